import { expect } from 'vitest';
import { expectCode, writeFile, type SuiteContext } from '../context.js';

export function mkdirSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().directories) return;
  test('mkdir creates an empty directory that lists and stats', async () => {
    const dir = `${root()}/made`;
    await backend().mkdir!(dir);
    expect((await backend().stat(dir)).type).toBe('directory');
    expect(await backend().list(dir)).toEqual([]);
  });
  test('mkdir on an existing path rejects EEXIST', async () => {
    const dir = `${root()}/twice`;
    await backend().mkdir!(dir);
    await expectCode(backend().mkdir!(dir), 'EEXIST');
  });
  test('mkdir under a missing parent rejects ENOENT', async () => {
    await expectCode(backend().mkdir!(`${root()}/no/such/parent`), 'ENOENT');
  });
  test('rmdir removes an empty directory', async () => {
    const dir = `${root()}/gone`;
    await backend().mkdir!(dir);
    await backend().rmdir!(dir);
    await expectCode(backend().stat(dir), 'ENOENT');
  });
  test('rmdir on a non-empty directory rejects ENOTEMPTY', async () => {
    const dir = `${root()}/full`;
    await backend().mkdir!(dir);
    await writeFile(backend(), `${dir}/f`, 'x');
    await expectCode(backend().rmdir!(dir), 'ENOTEMPTY');
    expect((await backend().stat(`${dir}/f`)).size).toBe(1);
  });
  test('rmdir on a file rejects ENOTDIR', async () => {
    const path = `${root()}/f`;
    await writeFile(backend(), path, 'x');
    await expectCode(backend().rmdir!(path), 'ENOTDIR');
  });
  test('rmdir on a missing path rejects ENOENT', async () => {
    await expectCode(backend().rmdir!(`${root()}/missing`), 'ENOENT');
  });
  if (caps().chmod) {
    test('mkdir with a mode stores its permission bits', async () => {
      const dir = `${root()}/private`;
      await backend().mkdir!(dir, 0o700);
      expect((await backend().stat(dir)).mode & 0o777).toBe(0o700);
    });
  }
}
