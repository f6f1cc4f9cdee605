import { expect } from 'vitest';
import { expectCode, readText, writeFile, type SuiteContext } from '../context.js';

export function truncateSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().truncate || !caps().write) return;
  test('truncate shrinks a file', async () => {
    const path = `${root()}/t`;
    await writeFile(backend(), path, 'abcdef');
    await backend().truncate!(path, 2);
    expect(await readText(backend(), path)).toBe('ab');
  });
  test('truncate grows a file with zeros', async () => {
    const path = `${root()}/g`;
    await writeFile(backend(), path, 'ab');
    await backend().truncate!(path, 4);
    expect(await readText(backend(), path)).toBe('ab\0\0');
    expect((await backend().stat(path)).size).toBe(4);
  });
  test('truncate of a missing file rejects ENOENT', async () => {
    await expectCode(backend().truncate!(`${root()}/missing`, 0), 'ENOENT');
  });
  test('truncate to a negative size rejects EINVAL', async () => {
    const path = `${root()}/n`;
    await writeFile(backend(), path, 'ab');
    await expectCode(backend().truncate!(path, -1), 'EINVAL');
  });
}
