import { expect } from 'vitest';
import { expectCode, readText, writeFile, type SuiteContext } from '../context.js';

export function copySuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().copy || !caps().write) return;
  test('copy makes a second file with the same contents, independent of the first', async () => {
    const dir = root();
    await writeFile(backend(), `${dir}/a`, 'original');
    await backend().copy!(`${dir}/a`, `${dir}/b`);
    expect(await readText(backend(), `${dir}/b`)).toBe('original');
    await writeFile(backend(), `${dir}/a`, 'changed');
    expect(await readText(backend(), `${dir}/b`)).toBe('original');
  });
  test('copy over an existing file replaces it', async () => {
    const dir = root();
    await writeFile(backend(), `${dir}/a`, 'new');
    await writeFile(backend(), `${dir}/b`, 'an older, longer content');
    await backend().copy!(`${dir}/a`, `${dir}/b`);
    expect(await readText(backend(), `${dir}/b`)).toBe('new');
  });
  test('copy of a missing file rejects ENOENT, of a directory EISDIR', async () => {
    const dir = root();
    await expectCode(backend().copy!(`${dir}/missing`, `${dir}/b`), 'ENOENT');
    if (caps().directories) {
      await backend().mkdir!(`${dir}/d`);
      await expectCode(backend().copy!(`${dir}/d`, `${dir}/b`), 'EISDIR');
    }
  });
}
