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
  for (const metadata of ['sync', 'async'] as const) {
    it(`paths longer than the host takes in one call work (metadata ${metadata}), and descriptors are not left open`, async () => {
      const b = localBackend({ root, metadata });
      const name = (c: string) => c.repeat(255);
      let dir = `/deep-${metadata}`;
      await b.mkdir(dir);
      for (const c of 'abcdefghijklmnopqrst') {
        dir += `/${name(c)}`;
        await b.mkdir(dir);
      }
      expect(root.length + dir.length).toBeGreaterThan(5000);
      const fds = async () => (await import('node:fs/promises')).readdir('/proc/self/fd').then((l) => l.length);
      const before = await fds();
      await writeFile(b, `${dir}/f`, 'deep');
      expect(await readText(b, `${dir}/f`)).toBe('deep');
      expect((await b.stat(`${dir}/f`)).size).toBe(4);
      await b.rename(`${dir}/f`, `/deep-${metadata}/${name('a')}/g`);
      await b.link(`/deep-${metadata}/${name('a')}/g`, `${dir}/h`);
      expect((await b.stat(`${dir}/h`)).nlink).toBe(2);
      await b.chmod(`${dir}/h`, 0o600);
      await b.symlink('h', `${dir}/l`);
      expect(await b.readlink(`${dir}/l`)).toBe('h');
      expect((await b.list(dir)).map((e) => e.name).sort()).toEqual(['h', 'l']);
      await expectCode(b.stat(`${dir}/missing/x`), 'ENOENT');
      await expectCode(b.list(`${dir}/h/x`), 'ENOTDIR');
      // Beyond the first 3 KiB a symlinked directory is not followed, even one inside the root.
      await b.symlink(join(root, 'inner'), `${dir}/to-inner`);
      await expectCode(b.open(`${dir}/to-inner/f`, parseOpenFlags('w')), 'EACCES');
      await expectCode(b.list(`${dir}/to-inner`), 'EACCES');
      for (const f of ['h', 'l', 'to-inner']) await b.unlink(`${dir}/${f}`);
      await b.unlink(`/deep-${metadata}/${name('a')}/g`);
      expect(await b.list(dir)).toEqual([]);
      expect(await fds()).toBe(before);
      for (; dir !== '/'; dir = dir.slice(0, dir.lastIndexOf('/')) || '/') await b.rmdir(dir);
      expect((await b.list('/')).map((e) => e.name)).not.toContain(`deep-${metadata}`);
    });
  }
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
