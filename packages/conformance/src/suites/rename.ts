import { expect } from 'vitest';
import { expectCode, readText, writeFile, type SuiteContext } from '../context.js';

export function renameSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().rename || !caps().write) return;
  test('rename moves a file', async () => {
    const dir = root();
    await writeFile(backend(), `${dir}/from`, 'moved');
    await backend().rename!(`${dir}/from`, `${dir}/to`);
    expect(await readText(backend(), `${dir}/to`)).toBe('moved');
    await expectCode(backend().stat(`${dir}/from`), 'ENOENT');
  });
  test('rename over an existing file replaces it', async () => {
    const dir = root();
    await writeFile(backend(), `${dir}/a`, 'new');
    await writeFile(backend(), `${dir}/b`, 'old');
    await backend().rename!(`${dir}/a`, `${dir}/b`);
    expect(await readText(backend(), `${dir}/b`)).toBe('new');
  });
  test('rename of a missing path rejects ENOENT', async () => {
    const dir = root();
    await expectCode(backend().rename!(`${dir}/missing`, `${dir}/x`), 'ENOENT');
  });
  if (!caps().directories) return;
  test('rename moves a directory with its contents', async () => {
    const dir = root();
    await backend().mkdir!(`${dir}/d1`);
    await writeFile(backend(), `${dir}/d1/f`, 'inside');
    await backend().rename!(`${dir}/d1`, `${dir}/d2`);
    expect(await readText(backend(), `${dir}/d2/f`)).toBe('inside');
    await expectCode(backend().stat(`${dir}/d1`), 'ENOENT');
  });
  test('rename of a file across directories moves it', async () => {
    const dir = root();
    await backend().mkdir!(`${dir}/x`);
    await backend().mkdir!(`${dir}/y`);
    await writeFile(backend(), `${dir}/x/f`, 'travel');
    await backend().rename!(`${dir}/x/f`, `${dir}/y/g`);
    expect(await readText(backend(), `${dir}/y/g`)).toBe('travel');
  });
  test('rename of a directory into itself rejects EINVAL', async () => {
    const dir = root();
    await backend().mkdir!(`${dir}/p`);
    await backend().mkdir!(`${dir}/p/q`);
    await expectCode(backend().rename!(`${dir}/p`, `${dir}/p/q/p`), 'EINVAL');
  });
  test('rename of a file over a directory rejects EISDIR', async () => {
    const dir = root();
    await writeFile(backend(), `${dir}/f`, 'x');
    await backend().mkdir!(`${dir}/d`);
    await expectCode(backend().rename!(`${dir}/f`, `${dir}/d`), 'EISDIR');
  });
  test('rename of a directory over a non-empty directory rejects ENOTEMPTY', async () => {
    const dir = root();
    await backend().mkdir!(`${dir}/a`);
    await backend().mkdir!(`${dir}/b`);
    await writeFile(backend(), `${dir}/b/keep`, 'x');
    await expectCode(backend().rename!(`${dir}/a`, `${dir}/b`), 'ENOTEMPTY');
  });
  test('rename of a directory over an empty directory replaces it', async () => {
    const dir = root();
    await backend().mkdir!(`${dir}/a`);
    await writeFile(backend(), `${dir}/a/f`, 'x');
    await backend().mkdir!(`${dir}/b`);
    await backend().rename!(`${dir}/a`, `${dir}/b`);
    expect(await readText(backend(), `${dir}/b/f`)).toBe('x');
  });
}
