import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { compose, parseOpenFlags } from '@shylock/core';
import { expectCode, randomName, readText, writeFile } from '@shylock/conformance';
import { startEtcd, startOrSkip } from '@shylock/test-servers';
import { etcdBackend } from '../src/index.js';

const run = promisify(execFile);
const { server: etcd, skip } = await startOrSkip(startEtcd);
afterAll(() => etcd?.stop());
const etcdctl = async (...args: string[]) =>
  (await run('etcdctl', ['--endpoints', etcd!.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } })).stdout;

describe.skipIf(!etcd)(`etcdBackend against a real etcd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('a file written through the backend is the key etcdctl reads, and back', async () => {
    const b = etcdBackend({ endpoints: etcd!.endpoint });
    const dir = `/${randomName()}`;
    await b.mkdir!(dir); // as on a disk, a file needs its directory
    await writeFile(b, `${dir}/app.json`, '{"debug":true}');
    expect(await etcdctl('get', '--print-value-only', `${dir}/app.json`)).toBe('{"debug":true}\n');
    await etcdctl('put', `${dir}/from-ctl`, 'hello');
    expect(await readText(b, `${dir}/from-ctl`)).toBe('hello');
    expect((await b.list(dir)).map((e) => e.name).sort()).toEqual(['app.json', 'from-ctl']);
    await b.close();
  });
  it('prefix mounts a subtree, and an empty directory is a marker key ending in /', async () => {
    const top = `/${randomName()}`;
    const b = etcdBackend({ endpoints: etcd!.endpoint, prefix: top });
    await b.mkdir!('/empty');
    expect(await etcdctl('get', '--keys-only', '--prefix', `${top}/`)).toBe(`${top}/empty/\n\n`);
    await writeFile(b, '/empty/f', 'x');
    expect(await etcdctl('get', '--print-value-only', `${top}/empty/f`)).toBe('x\n');
    await b.close();
  });
  it('a value over the limit rejects EFBIG naming the limit, and stores none of it', async () => {
    const b = etcdBackend({ endpoints: etcd!.endpoint });
    const path = `/${randomName()}`;
    const h = await b.open(path, parseOpenFlags('w'));
    const error = await h.write!(new Uint8Array(2 << 20), 0).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'EFBIG' });
    expect((error as Error).message).toMatch(/2\.00 MiB is over the etcd limit of 1\.50 MiB per file \(the server's --max-request-bytes\)/);
    await h.close();
    expect((await b.stat(path)).size).toBe(0); // created by open, as on a disk; the write did not land
    await b.close();
  });
  it("the server's own request limit also answers EFBIG", async () => {
    const b = etcdBackend({ endpoints: etcd!.endpoint, maxValueBytes: 8 << 20 });
    await expectCode(writeFile(b, `/${randomName()}`, new Uint8Array(2 << 20)), 'EFBIG');
    await b.close();
  });
  it('read-only mode (option or ETC_READ_ONLY) answers EROFS to every change', async () => {
    for (const b of [
      etcdBackend({ endpoints: etcd!.endpoint, readOnly: true }),
      (() => {
        process.env.ETC_READ_ONLY = 'true';
        try {
          return etcdBackend({ endpoints: etcd!.endpoint });
        } finally {
          delete process.env.ETC_READ_ONLY;
        }
      })(),
    ]) {
      await expectCode(b.open('/x', parseOpenFlags('w')), 'EROFS');
      await expectCode(b.mkdir!('/d'), 'EROFS');
      await expectCode(b.unlink!('/x'), 'EROFS');
      await b.close();
    }
  });
  it('watch reports the paths other clients change, also through compose() and readOnly', async () => {
    const top = `/${randomName()}`;
    const b = etcdBackend({ endpoints: etcd!.endpoint, prefix: top });
    const seen: (string | null)[] = [];
    const composed = compose({ '/cfg': etcdBackend({ endpoints: etcd!.endpoint, prefix: top, readOnly: true }) });
    const seenComposed: (string | null)[] = [];
    const stop = b.watch!((p) => seen.push(p));
    const stopComposed = composed.watch!((p) => seenComposed.push(p));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the watch streams start
    await etcdctl('put', `${top}/app/flag`, 'on');
    await etcdctl('put', `${top}/empty/`, '');
    await expect.poll(() => seen).toEqual(expect.arrayContaining(['/app/flag', '/empty']));
    await expect.poll(() => seenComposed).toEqual(expect.arrayContaining(['/cfg/app/flag', '/cfg/empty']));
    stop();
    stopComposed();
    await b.close();
    await composed.close();
  });
  it('bad options throw EINVAL naming what to fix', () => {
    expect(() => etcdBackend({ endpoints: [] })).toThrow(/endpoint/);
    expect(() => etcdBackend({ endpoints: 'not a url/x' })).toThrow(/not an endpoint/);
    expect(() => etcdBackend({ endpoints: etcd!.endpoint, timeoutMs: -1 })).toThrow(/timeoutMs/);
  });
  it('an unreachable cluster answers EIO or ETIMEDOUT within seconds', async () => {
    const b = etcdBackend({ endpoints: 'http://127.0.0.1:9', timeoutMs: 1000 });
    const t0 = Date.now();
    const error = await b.stat('/x').catch((e: unknown) => e as { code?: string });
    expect(['EIO', 'ETIMEDOUT']).toContain((error as { code?: string }).code);
    expect(Date.now() - t0).toBeLessThan(5000);
    await b.close();
  });
  it('a server stopped mid-use fails fast, and the same backend works again after restart', async () => {
    const b = etcdBackend({ endpoints: etcd!.endpoint, timeoutMs: 1000 });
    const path = `/${randomName()}`;
    await writeFile(b, path, 'before');
    await etcd!.kill();
    const t0 = Date.now();
    const error = await readText(b, path).catch((e: unknown) => e as { code?: string });
    expect(['EIO', 'ETIMEDOUT']).toContain((error as { code?: string }).code);
    expect(Date.now() - t0).toBeLessThan(5000);
    await etcd!.restart();
    await expect.poll(() => readText(b, path).catch(() => 'not yet'), { timeout: 10_000, interval: 200 }).toBe('before');
    await b.close();
  });
});
