import { expect } from 'vitest';
import { bytes, expectCode, writeFile, type SuiteContext } from '../context.js';

export function xattrsSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().xattrs || !caps().write) return;
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  test('setxattr stores a value that getxattr returns and listxattr names', async () => {
    const path = `${root()}/f`;
    await writeFile(backend(), path, 'x');
    await backend().setxattr!(path, 'user.comment', bytes('hello'));
    await backend().setxattr!(path, 'user.empty', new Uint8Array(0));
    expect(text(await backend().getxattr!(path, 'user.comment'))).toBe('hello');
    expect(await backend().getxattr!(path, 'user.empty')).toHaveLength(0);
    expect((await backend().listxattr!(path)).filter((n) => n.startsWith('user.')).sort()).toEqual(['user.comment', 'user.empty']);
  });
  test('getxattr and removexattr of a missing attribute reject ENODATA, of a missing file ENOENT', async () => {
    const path = `${root()}/f`;
    await writeFile(backend(), path, 'x');
    await expectCode(backend().getxattr!(path, 'user.none'), 'ENODATA');
    await expectCode(backend().removexattr!(path, 'user.none'), 'ENODATA');
    await expectCode(backend().getxattr!(`${root()}/missing`, 'user.a'), 'ENOENT');
  });
  test('setxattr with XATTR_CREATE over an attribute rejects EEXIST, with XATTR_REPLACE of none ENODATA', async () => {
    const path = `${root()}/f`;
    await writeFile(backend(), path, 'x');
    await backend().setxattr!(path, 'user.a', bytes('1'), 1);
    await expectCode(backend().setxattr!(path, 'user.a', bytes('2'), 1), 'EEXIST');
    await expectCode(backend().setxattr!(path, 'user.b', bytes('2'), 2), 'ENODATA');
    await backend().setxattr!(path, 'user.a', bytes('3'), 2);
    expect(text(await backend().getxattr!(path, 'user.a'))).toBe('3');
  });
  test('setxattr keeps its own copy of the value: the caller may reuse its buffer', async () => {
    const path = `${root()}/f`;
    await writeFile(backend(), path, 'x');
    const value = Buffer.from('first');
    await backend().setxattr!(path, 'user.a', value);
    value.write('XXXXX');
    const got = await backend().getxattr!(path, 'user.a');
    expect(text(got)).toBe('first');
    got.fill(0);
    expect(text(await backend().getxattr!(path, 'user.a'))).toBe('first');
  });
  test('removexattr removes the attribute and leaves the others', async () => {
    const path = `${root()}/f`;
    await writeFile(backend(), path, 'x');
    await backend().setxattr!(path, 'user.a', bytes('1'));
    await backend().setxattr!(path, 'user.b', bytes('2'));
    await backend().removexattr!(path, 'user.a');
    await expectCode(backend().getxattr!(path, 'user.a'), 'ENODATA');
    expect((await backend().listxattr!(path)).filter((n) => n.startsWith('user.'))).toEqual(['user.b']);
  });
}
