import { expectCode, writeFile, type SuiteContext } from '../context.js';

export function unlinkSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().unlink || !caps().write) return;
  test('unlink removes a file', async () => {
    const path = `${root()}/doomed`;
    await writeFile(backend(), path, 'x');
    await backend().unlink!(path);
    await expectCode(backend().stat(path), 'ENOENT');
  });
  test('unlink on a missing file rejects ENOENT', async () => {
    await expectCode(backend().unlink!(`${root()}/missing`), 'ENOENT');
  });
  if (caps().directories) {
    test('unlink on a directory rejects EISDIR', async () => {
      const dir = `${root()}/d`;
      await backend().mkdir!(dir);
      await expectCode(backend().unlink!(dir), 'EISDIR');
    });
  }
}
