import { expect } from 'vitest';
import { expectCode, writeFile, type SuiteContext } from '../context.js';

export function metadataSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().write) return;
  if (caps().chmod) {
    test('chmod sets the permission bits', async () => {
      const path = `${root()}/m`;
      await writeFile(backend(), path, 'x');
      await backend().chmod!(path, 0o600);
      expect((await backend().stat(path)).mode & 0o7777).toBe(0o600);
    });
    test('chmod on a missing path rejects ENOENT', async () => {
      await expectCode(backend().chmod!(`${root()}/missing`, 0o600), 'ENOENT');
    });
  }
  if (caps().chown && caps().chmod && caps().directories) {
    test('in a setgid directory a new entry takes its group, and a new directory the bit', async () => {
      const dir = `${root()}/sg`;
      await backend().mkdir!(dir);
      await backend().chown!(dir, 0xffffffff, 4242);
      await backend().chmod!(dir, 0o2775);
      await writeFile(backend(), `${dir}/f`, 'x');
      await backend().mkdir!(`${dir}/d`);
      expect((await backend().stat(`${dir}/f`)).gid).toBe(4242);
      const sub = await backend().stat(`${dir}/d`);
      expect([sub.gid, sub.mode & 0o2000]).toEqual([4242, 0o2000]);
    });
  }
  if (caps().utimes) {
    test('utimes sets the modification time', async () => {
      const path = `${root()}/u`;
      await writeFile(backend(), path, 'x');
      const when = Date.UTC(2020, 0, 2, 3, 4, 5);
      await backend().utimes!(path, when, when);
      expect(Math.round((await backend().stat(path)).mtimeMs)).toBe(when);
    });
  }
}
