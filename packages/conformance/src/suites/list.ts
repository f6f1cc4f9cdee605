import { expect } from 'vitest';
import { expectCode, writeFile, type SuiteContext } from '../context.js';

export function listSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().list) return;
  test('list on a missing directory rejects ENOENT', async () => {
    await expectCode(backend().list(`${root()}/missing`), 'ENOENT');
  });
  if (!caps().write) return;
  test('list resolves the names and types of the entries', async () => {
    const dir = root();
    await writeFile(backend(), `${dir}/a.txt`, 'a');
    await writeFile(backend(), `${dir}/b.txt`, 'bb');
    if (caps().directories) await backend().mkdir!(`${dir}/sub`);
    await writeFile(backend(), `${dir}/sub/c.txt`, 'c');
    const entries = await backend().list(dir);
    const byName = Object.fromEntries(entries.map((e) => [e.name, e.type]));
    expect(byName).toEqual({ 'a.txt': 'file', 'b.txt': 'file', sub: 'directory' });
    const withStat = entries.find((e) => e.name === 'b.txt')?.stat;
    if (withStat) expect(withStat.size).toBe(2);
  });
  test('list never includes . or ..', async () => {
    const dir = root();
    await writeFile(backend(), `${dir}/only`, '');
    const names = (await backend().list(dir)).map((e) => e.name);
    expect(names).toEqual(['only']);
  });
  test('list on a file rejects ENOTDIR', async () => {
    const path = `${root()}/file`;
    await writeFile(backend(), path, 'x');
    await expectCode(backend().list(path), 'ENOTDIR');
  });
  test('list of a directory with 300 entries resolves all of them', async () => {
    const dir = root();
    await Promise.all(Array.from({ length: 300 }, (_, i) => writeFile(backend(), `${dir}/f${i}`, String(i))));
    const names = new Set((await backend().list(dir)).map((e) => e.name));
    expect(names.size).toBe(300);
    expect(names.has('f299')).toBe(true);
  });
}
