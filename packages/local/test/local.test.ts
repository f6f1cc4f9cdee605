import { mkdir, mkdtemp, readFile, rm, symlink, writeFile as fsWrite } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOpenFlags } from '@shylock/core';
import { expectCode, readText, writeFile } from '@shylock/conformance';
import { localBackend } from '../src/index.js';

describe('localBackend', () => {
  let root: string;
  let outside: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'shylock-local-'));
    outside = await mkdtemp(join(tmpdir(), 'shylock-outside-'));
    await fsWrite(join(outside, 'secret'), 'do not read');
    await symlink(outside, join(root, 'escape'));
    await mkdir(join(root, 'inner'));
    await symlink(join(root, 'inner'), join(root, 'alias'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('writes land in the directory and host files are visible', async () => {
    const b = localBackend({ root });
    await writeFile(b, '/hello.txt', 'hi');
    expect(await readFile(join(root, 'hello.txt'), 'utf8')).toBe('hi');
    await fsWrite(join(root, 'from-host'), 'host');
    expect(await readText(b, '/from-host')).toBe('host');
  });
  it('a path through a symlink that leaves the root rejects EACCES', async () => {
    const b = localBackend({ root });
    await expectCode(b.open('/escape/secret', parseOpenFlags('r')), 'EACCES');
    await expectCode(b.list('/escape/'), 'EACCES');
  });
  it('a symlink inside the root may be used as a parent', async () => {
    const b = localBackend({ root });
    await writeFile(b, '/alias/f', 'via alias');
    expect(await readFile(join(root, 'inner', 'f'), 'utf8')).toBe('via alias');
  });
  it('opening a symlink itself rejects ELOOP (links are not followed)', async () => {
    const b = localBackend({ root });
    await expectCode(b.open('/escape', parseOpenFlags('r')), 'ELOOP');
    expect((await b.stat('/escape')).type).toBe('symlink');
    expect(await b.readlink!('/escape')).toBe(outside);
  });
  it('open with a mode creates the file with those bits', async () => {
    const b = localBackend({ root });
    const h = await b.open('/private', parseOpenFlags('wx'), { mode: 0o600 });
    await h.close();
    expect((await b.stat('/private')).mode).toBe(0o600);
  });
  it('a missing root rejects ENOENT and an empty one throws EINVAL', async () => {
    await expectCode(localBackend({ root: join(root, 'nope') }).stat('/'), 'ENOENT');
    expect(() => localBackend({ root: '' })).toThrow(/root/);
  });
  it('statfs reports the host file system', async () => {
    const s = await localBackend({ root }).statfs!();
    expect(s.blocks).toBeGreaterThan(0);
  });
});
