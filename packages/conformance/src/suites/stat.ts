import { expect } from 'vitest';
import { expectCode, writeFile, type SuiteContext } from '../context.js';

export function statSuite({ test, backend, root, caps }: SuiteContext): void {
  test('stat on the root resolves a directory', async () => {
    const s = await backend().stat('/');
    expect(s.type).toBe('directory');
  });
  test('stat on a missing path rejects ENOENT', async () => {
    await expectCode(backend().stat(`${root()}/missing`), 'ENOENT');
  });
  if (caps().write) {
    test('stat on a written file resolves its type, size and mtime', async () => {
      const path = `${root()}/a.txt`;
      const before = Date.now() - 2000;
      await writeFile(backend(), path, 'hello');
      const s = await backend().stat(path);
      expect(s.type).toBe('file');
      expect(s.size).toBe(5);
      expect(s.mtimeMs).toBeGreaterThan(before);
      expect(s.mode & ~0o7777).toBe(0);
    });
    test('stat on a parent of a file resolves a directory', async () => {
      const dir = root();
      await writeFile(backend(), `${dir}/b.txt`, 'x');
      expect((await backend().stat(dir)).type).toBe('directory');
    });
    test('stat through a file as if it were a directory rejects ENOTDIR or ENOENT', async () => {
      const path = `${root()}/plain`;
      await writeFile(backend(), path, 'x');
      let code: unknown;
      try {
        await backend().stat(`${path}/child`);
      } catch (e) {
        code = (e as { code?: unknown }).code;
      }
      expect(['ENOTDIR', 'ENOENT']).toContain(code);
    });
  }
}
