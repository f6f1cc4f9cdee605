import { describe, expect, it } from 'vitest';
import {
  ERRNO,
  isShylockError,
  normalizePath,
  parseOpenFlags,
  ShylockError,
  toShylockError,
  isUnder,
  createBufferedHandle,
  hasRawBytes,
  nameBytes,
  nameByteLength,
  nameFromBytes,
} from '../src/index.js';

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/a/b/', '/a/b'],
    ['a/b', '/a/b'],
    ['//a//./b/', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/a/..', '/'],
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/b/.', '/a/b'],
    ['/.hidden/x.y', '/.hidden/x.y'],
    ['/x/..y', '/x/..y'],
    ['/' + 'a'.repeat(255), '/' + 'a'.repeat(255)],
    ['/' + 'é'.repeat(100), '/' + 'é'.repeat(100)],
  ])('normalizePath(%j) is %j', (input, output) => {
    expect(normalizePath(input)).toBe(output);
  });
  it.each([[''], ['/..'], ['/a/../../b'], ['/a\0b']])('normalizePath(%j) throws EINVAL', (input) => {
    expect(() => normalizePath(input)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
  it('a name over 255 bytes throws ENAMETOOLONG; a path has no limit of its own', () => {
    expect(() => normalizePath('/' + 'é'.repeat(128))).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    expect(() => normalizePath('/' + 'a'.repeat(256))).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    expect(() => normalizePath('/a/' + 'b'.repeat(80) + '/' + 'c'.repeat(256))).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    expect(normalizePath(('/' + 'x'.repeat(63)).repeat(64))).toHaveLength(4096);
    // Deeper than one system call's PATH_MAX: reachable in a mount from a working directory.
    expect(normalizePath(('/' + 'x'.repeat(255)).repeat(40) + '/./y/')).toBe(('/' + 'x'.repeat(255)).repeat(40) + '/y');
  });
  it('isUnder matches whole segments', () => {
    expect(isUnder('/a/b', '/a')).toBe(true);
    expect(isUnder('/a', '/a')).toBe(true);
    expect(isUnder('/ab', '/a')).toBe(false);
    expect(isUnder('/x', '/')).toBe(true);
  });
});

describe('names that are not UTF-8', () => {
  const bytes = (...b: number[]) => Buffer.from(b);
  it.each([
    [bytes(0x63, 0x61, 0x66, 0xe9), 'caf\udce9'],
    [bytes(0xff, 0xfe), '\udcff\udcfe'],
    [Buffer.from('café ☃ 𝄞'), 'café ☃ 𝄞'],
    [bytes(0xc3), '\udcc3'], // a sequence cut short
    [bytes(0xc0, 0xaf), '\udcc0\udcaf'], // an overlong '/'
    [bytes(0xed, 0xa0, 0x80), '\udced\udca0\udc80'], // an encoded surrogate
    [bytes(0xf4, 0x90, 0x80, 0x80), '\udcf4\udc90\udc80\udc80'], // above U+10FFFF
    [Buffer.concat([Buffer.from('é'), bytes(0xe9), Buffer.from('𝄞')]), 'é\udce9𝄞'],
  ])('%j reads as %j and back', (raw, name) => {
    expect(nameFromBytes(raw)).toBe(name);
    expect(nameBytes(name).equals(raw)).toBe(true);
    expect(nameByteLength(name)).toBe(raw.length);
    expect(hasRawBytes(name)).toBe(!raw.equals(Buffer.from(raw.toString())));
  });
  it('a name counts its bytes: 255 escaped bytes fit, 256 do not', () => {
    expect(normalizePath('/' + '\udce9'.repeat(255))).toHaveLength(256);
    expect(() => normalizePath('/' + '\udce9'.repeat(256))).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
  });
});

describe('parseOpenFlags', () => {
  it('reads Node flag strings', () => {
    expect(parseOpenFlags('r')).toMatchObject({ read: true, write: false, create: false });
    expect(parseOpenFlags('wx')).toMatchObject({ read: false, write: true, create: true, exclusive: true, truncate: true });
    expect(parseOpenFlags('a+')).toMatchObject({ read: true, write: true, append: true, create: true, truncate: false });
  });
  it('reads numeric O_ flags', () => {
    expect(parseOpenFlags(0o2 | 0o100 | 0o1000)).toMatchObject({ read: true, write: true, create: true, truncate: true });
  });
  it('an unknown string throws EINVAL', () => {
    expect(() => parseOpenFlags('q')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('ShylockError', () => {
  it('carries code, errno, retryable and cause', () => {
    const cause = new Error('socket hang up');
    const e = new ShylockError('ETIMEDOUT', 'etcd did not answer in 3 s', { op: 'stat', path: '/a', backend: 'etcd', cause });
    expect([e.code, e.errno, e.retryable, e.op, e.path, e.backend, e.cause]).toEqual([
      'ETIMEDOUT',
      ERRNO.ETIMEDOUT,
      true,
      'stat',
      '/a',
      'etcd',
      cause,
    ]);
    expect(new ShylockError('ENOENT', 'x').retryable).toBe(false);
  });
  it('isShylockError recognises errors by name and code, not instanceof', () => {
    expect(isShylockError({ name: 'ShylockError', code: 'ENOENT', message: 'x' })).toBe(true);
    expect(isShylockError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isShylockError({ name: 'ShylockError', code: 'EWHAT' })).toBe(false);
  });
  it('toShylockError keeps system codes and makes anything else EIO', () => {
    const sys = Object.assign(new Error('no'), { code: 'EACCES' });
    expect(toShylockError(sys).code).toBe('EACCES');
    const odd = toShylockError(new TypeError('boom'), { op: 'read' });
    expect([odd.code, odd.op, (odd.cause as Error).message]).toEqual(['EIO', 'read', 'boom']);
  });
});

describe('createBufferedHandle', () => {
  it('commits once at close, and a failed commit surfaces from close', async () => {
    const commits: string[] = [];
    const ok = createBufferedHandle({
      path: '/k',
      backend: 'kv',
      flags: parseOpenFlags('w'),
      commit: async (d) => void commits.push(new TextDecoder().decode(d)),
    });
    await ok.write!(new TextEncoder().encode('ab'), null);
    await ok.write!(new TextEncoder().encode('cd'), null);
    await ok.close();
    expect(commits).toEqual(['abcd']);
    const bad = createBufferedHandle({
      path: '/k',
      backend: 'kv',
      flags: parseOpenFlags('w'),
      commit: async () => {
        throw new ShylockError('EIO', 'server gone');
      },
    });
    await bad.write!(new Uint8Array(1), null);
    await expect(bad.flush!()).rejects.toMatchObject({ code: 'EIO' });
    await expect(bad.close()).rejects.toMatchObject({ code: 'EIO' });
  });
  it('a write over maxSize rejects EFBIG', async () => {
    const h = createBufferedHandle({ path: '/k', backend: 'kv', flags: parseOpenFlags('w'), maxSize: 3, commit: async () => {} });
    await expect(h.write!(new Uint8Array(4), 0)).rejects.toMatchObject({ code: 'EFBIG' });
  });
});
