import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOpenFlags, type FileHandle } from '@shylock/core';
import { bytes, expectCode, randomName, readFile, readText, writeFile } from '@shylock/conformance';
import { startOrSkip, startRedis } from '@shylock/test-servers';
import { redisBackend } from '../src/index.js';

const run = promisify(execFile);
const { server: redis, skip } = await startOrSkip(startRedis);
afterAll(() => redis?.stop());
/** redis-cli against the test server; its stdout, raw. */
const cli = async (...args: string[]) =>
  (await run('redis-cli', ['-p', String(redis!.port), ...args], { encoding: 'buffer' })).stdout as unknown as Buffer;
const cliText = async (...args: string[]) => (await cli(...args)).toString();

/** Reads until `count` lines arrived. */
async function lines(handle: FileHandle, count: number): Promise<string[]> {
  let text = '';
  const buf = new Uint8Array(4096);
  while (text.split('\n').length - 1 < count) {
    const n = await handle.read(buf, null);
    if (n === 0) throw new Error(`ended after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text.split('\n').slice(0, count);
}

describe.skipIf(!redis)(`redisBackend against a real Redis${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const backend = (extra: Parameters<typeof redisBackend>[0] = {}) => redisBackend({ host: redis!.endpoint, ...extra });

  it('the root lists kv, pubsub, streams and queues', async () => {
    const b = backend();
    expect((await b.list('/')).map((e) => e.name)).toEqual(['kv', 'pubsub', 'streams', 'queues']);
    await expectCode(b.mkdir!('/other'), 'EPERM');
    await expectCode(b.stat('/other'), 'ENOENT');
    await b.close();
  });

  it('a kv file is the string key redis-cli reads, and back; values are binary-safe', async () => {
    const b = backend();
    const dir = randomName();
    await b.mkdir!(`/kv/${dir}`);
    await writeFile(b, `/kv/${dir}/app.json`, '{"debug":true}');
    expect(await cliText('GET', `${dir}/app.json`)).toBe('{"debug":true}\n');
    await cli('SET', `${dir}/from-cli`, 'hello');
    expect(await readText(b, `/kv/${dir}/from-cli`)).toBe('hello');
    expect((await b.list(`/kv/${dir}`)).map((e) => e.name).sort()).toEqual(['app.json', 'from-cli']);
    const binary = new Uint8Array(256).map((_, i) => i);
    await writeFile(b, `/kv/${dir}/bin`, binary);
    expect(new Uint8Array(await readFile(b, `/kv/${dir}/bin`))).toEqual(binary);
    const viaCli = await cli('GET', `${dir}/bin`);
    expect(new Uint8Array(viaCli.subarray(0, 256))).toEqual(binary);
    await b.close();
  });

  it('a stat brings a value up to 4 KiB along, and up to 1 MiB when asked for the content', async () => {
    const b = backend();
    const key = randomName();
    await writeFile(b, `/kv/${key}-small`, 'tiny');
    await writeFile(b, `/kv/${key}-mid`, 'm'.repeat(5000));
    await writeFile(b, `/kv/${key}-big`, new Uint8Array((1 << 20) + 1));
    expect(Buffer.from((await b.stat(`/kv/${key}-small`)).content!).toString()).toBe('tiny');
    expect((await b.stat(`/kv/${key}-mid`)).content).toBeUndefined();
    const mid = await b.stat(`/kv/${key}-mid`, { content: true });
    expect(mid.size).toBe(5000);
    expect(Buffer.from(mid.content!).toString()).toBe('m'.repeat(5000));
    const big = await b.stat(`/kv/${key}-big`, { content: true });
    expect(big.size).toBe((1 << 20) + 1);
    expect(big.content).toBeUndefined();
    // Listings never carry content.
    expect((await b.list('/kv')).some((e) => e.stat?.content !== undefined)).toBe(false);
    await b.close();
  });

  it('a key with slashes set elsewhere makes directories, and an empty directory is a marker key', async () => {
    const b = backend();
    const top = randomName();
    await cli('SET', `${top}/a/b/c`, 'deep');
    expect((await b.stat(`/kv/${top}/a/b`)).type).toBe('directory');
    expect(await readText(b, `/kv/${top}/a/b/c`)).toBe('deep');
    await b.mkdir!(`/kv/${top}/empty`);
    expect(await cliText('EXISTS', `${top}/empty/`)).toBe('1\n');
    expect((await b.list(`/kv/${top}`)).map((e) => e.name).sort()).toEqual(['a', 'empty']);
    await b.rmdir!(`/kv/${top}/empty`);
    expect(await cliText('EXISTS', `${top}/empty/`)).toBe('0\n');
    await b.close();
  });

  it('prefix mounts only the keys under it', async () => {
    const prefix = `${randomName()}:`;
    const b = backend({ prefix });
    await writeFile(b, '/kv/x', 'inside');
    expect(await cliText('GET', `${prefix}x`)).toBe('inside\n');
    await cli('SET', `${prefix}y`, 'also');
    expect((await b.list('/kv')).map((e) => e.name).sort()).toEqual(['x', 'y']);
    await b.close();
  });

  it('keys of other types stay out of kv/, appear in their own directory, and are never overwritten', async () => {
    const b = backend();
    const name = randomName();
    await cli('RPUSH', name, 'task');
    await cli('XADD', `${name}-log`, '*', 'data', 'entry');
    await expectCode(b.stat(`/kv/${name}`), 'ENOENT');
    await expectCode(writeFile(b, `/kv/${name}`, 'clobber'), 'EEXIST');
    expect(await cliText('TYPE', name)).toBe('list\n');
    expect((await b.list('/queues')).map((e) => e.name)).toContain(name);
    expect((await b.list('/streams')).map((e) => e.name)).toContain(`${name}-log`);
    expect((await b.list('/kv')).map((e) => e.name)).not.toContain(name);
    await expectCode(b.unlink!(`/kv/${name}`), 'ENOENT');
    expect(await cliText('LLEN', name)).toBe('1\n');
    await b.close();
  });

  it('names with / and % are one path segment, percent-encoded', async () => {
    const b = backend();
    const name = `${randomName()}/x%y`;
    await cli('RPUSH', name, 'job');
    const encoded = `${name.split('/')[0]}%2Fx%25y`;
    expect((await b.list('/queues')).map((e) => e.name)).toContain(encoded);
    const h = await b.open(`/queues/${encoded}`, parseOpenFlags('r'));
    expect(await lines(h, 1)).toEqual(['job']);
    await h.close();
    await b.close();
  });

  it('redis-cli PUBLISH reaches a pubsub reader, and a write reaches redis-cli SUBSCRIBE', async () => {
    const b = backend();
    const channel = randomName();
    const r = await b.open(`/pubsub/${channel}`, parseOpenFlags('r'));
    expect((await b.list('/pubsub')).map((e) => e.name)).toContain(channel);
    await cli('PUBLISH', channel, 'from cli');
    expect(await lines(r, 1)).toEqual(['from cli']);
    await r.close();

    const sub = spawn('redis-cli', ['-p', String(redis!.port), 'SUBSCRIBE', channel]);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await expect.poll(() => out, { timeout: 5000 }).toContain(channel); // subscribed
      await writeFile(b, `/pubsub/${channel}`, 'to cli\n');
      await expect.poll(() => out, { timeout: 5000 }).toContain('to cli');
    } finally {
      sub.kill();
    }
    await b.close();
  });

  it('a streams/ file is XADD per line with field data; other entries read as JSON', async () => {
    const b = backend();
    const key = randomName();
    await writeFile(b, `/streams/${key}`, 'one\ntwo\n');
    const range = await cliText('XRANGE', key, '-', '+');
    expect(range).toMatch(/data\none\n/);
    expect(range).toMatch(/data\ntwo\n/);
    await cli('XADD', key, '*', 'user', 'ann', 'action', 'login');
    const r = await b.open(`/streams/${key}`, parseOpenFlags('r'));
    expect(await lines(r, 3)).toEqual(['one', 'two', '{"user":"ann","action":"login"}']);
    await r.close();
    await b.unlink!(`/streams/${key}`);
    expect(await cliText('EXISTS', key)).toBe('0\n');
    await b.close();
  });

  it('a queue gives each task to one reader, and tasks a reader did not read go back', async () => {
    const b = backend();
    const key = randomName();
    await cli('RPUSH', key, 't1', 't2', 't3');
    const r = await b.open(`/queues/${key}`, parseOpenFlags('r'));
    expect(await lines(r, 1)).toEqual(['t1']);
    await r.close();
    expect(await cliText('LRANGE', key, '0', '-1')).toBe('t2\nt3\n');
    // A reader waiting in BLPOP when it closes puts back what it popped.
    const waiting = await b.open(`/queues/${key}-empty`, parseOpenFlags('r'));
    const pending = waiting.read(new Uint8Array(64), null).catch(() => 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await Promise.all([waiting.close(), cli('RPUSH', `${key}-empty`, 'kept')]);
    await pending;
    await expect.poll(() => cliText('LRANGE', `${key}-empty`, '0', '-1'), { timeout: 3000 }).toBe('kept\n');
    await b.close();
  });

  it('a value over the limit rejects EFBIG naming the limit, and stores none of it', async () => {
    const b = backend({ maxValueBytes: 1 << 20 });
    const path = `/kv/${randomName()}`;
    const h = await b.open(path, parseOpenFlags('w'));
    const error = await h.write!(new Uint8Array(2 << 20), 0).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'EFBIG' });
    expect((error as Error).message).toMatch(/2\.00 MiB is over the redis limit of 1\.00 MiB per file/);
    await h.close();
    expect((await b.stat(path)).size).toBe(0);
    await b.close();
  });

  it('read-only mode answers EROFS to every change and still reads', async () => {
    const b = backend({ readOnly: true });
    const key = randomName();
    await cli('SET', key, 'v');
    expect(await readText(b, `/kv/${key}`)).toBe('v');
    await expectCode(b.open(`/kv/${key}`, parseOpenFlags('w')), 'EROFS');
    await expectCode(b.open(`/queues/${key}`, parseOpenFlags('w')), 'EROFS');
    await expectCode(b.unlink!(`/kv/${key}`), 'EROFS');
    await b.close();
  });

  it('bad options throw EINVAL naming what to fix; REDIS_HOST and REDIS_DB are read', async () => {
    expect(() => redisBackend({ host: 'a b' })).toThrow(/not a host such as localhost:6379/);
    expect(() => redisBackend({ host: 'localhost:99999' })).toThrow(/port/);
    expect(() => redisBackend({ db: -1 })).toThrow(/db must be a database number/);
    expect(() => redisBackend({ timeoutMs: 0 })).toThrow(/timeoutMs/);
    process.env.REDIS_HOST = redis!.endpoint;
    process.env.REDIS_DB = '3';
    try {
      const b = redisBackend();
      await writeFile(b, '/kv/in-db-3', 'x');
      await b.close();
    } finally {
      delete process.env.REDIS_HOST;
      delete process.env.REDIS_DB;
    }
    expect(await cliText('-n', '3', 'GET', 'in-db-3')).toBe('x\n');
    process.env.REDIS_DB = 'three';
    try {
      expect(() => redisBackend()).toThrow(/REDIS_DB must be a database number/);
    } finally {
      delete process.env.REDIS_DB;
    }
  });

  it('a wrong password answers EACCES; the right one (REDIS_PASSWORD or a URL) works', async () => {
    await cli('CONFIG', 'SET', 'requirepass', 's3cret');
    const auth = ['--no-auth-warning', '-a', 's3cret'];
    try {
      const wrong = backend({ password: 'nope' });
      await expectCode(wrong.stat('/kv/x'), 'EACCES');
      await wrong.close();
      const right = redisBackend({ host: `redis://:s3cret@${redis!.endpoint}/0` });
      await writeFile(right, '/kv/authed', 'ok');
      await right.close();
      expect(await cliText(...auth, 'GET', 'authed')).toBe('ok\n');
    } finally {
      await cli(...auth, 'CONFIG', 'SET', 'requirepass', '');
    }
  });

  it('an unreachable server answers EIO or ETIMEDOUT within seconds', async () => {
    const b = redisBackend({ host: '127.0.0.1:9', timeoutMs: 1000 });
    const t0 = Date.now();
    const error = (await b.stat('/kv/x').catch((e: unknown) => e)) as { code?: string };
    expect(['EIO', 'ETIMEDOUT']).toContain(error.code);
    expect(Date.now() - t0).toBeLessThan(5000);
    await b.close();
  });

  it('a server stopped mid-use fails fast, pubsub readers get EIO, and the same backend works after restart', async () => {
    const b = backend({ timeoutMs: 1000 });
    const path = `/kv/${randomName()}`;
    await writeFile(b, path, 'before');
    const reader = await b.open(`/pubsub/${randomName()}`, parseOpenFlags('r'));
    const waiting = reader.read(new Uint8Array(64), null).catch((e: unknown) => e as { code?: string });
    await redis!.kill();
    try {
      expect(await waiting).toMatchObject({ code: 'EIO' });
      const t0 = Date.now();
      const error = (await readText(b, path).catch((e: unknown) => e)) as { code?: string };
      expect(['EIO', 'ETIMEDOUT']).toContain(error.code);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await redis!.restart();
    }
    // The restarted server is empty (no persistence in tests): the same backend writes again.
    await expect
      .poll(
        () =>
          writeFile(b, path, 'after').then(
            () => 'ok',
            () => 'not yet',
          ),
        { timeout: 10_000, interval: 200 },
      )
      .toBe('ok');
    expect(await readText(b, path)).toBe('after');
    await reader.close();
    await b.close();
  });

  it('a publish to a stopped server fails the write within seconds, not silently', async () => {
    const b = backend({ timeoutMs: 1000 });
    const w = await b.open(`/pubsub/${randomName()}`, parseOpenFlags('w'));
    await w.write!(new TextEncoder().encode('first\n'), null);
    await redis!.kill();
    try {
      const t0 = Date.now();
      const error = (await w.write!(new TextEncoder().encode('lost?\nlost?\n'), null).catch((e: unknown) => e)) as { code?: string };
      expect(['EIO', 'ETIMEDOUT']).toContain(error.code);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await redis!.restart();
    }
    await w.close().catch(() => undefined);
    await b.close();
  });
  it('a queue reader of a dead server gets an error instead of hanging', async () => {
    const b = backend({ timeoutMs: 1000 });
    const r = await b.open(`/queues/${randomName()}`, parseOpenFlags('r'));
    const waiting = r.read(new Uint8Array(64), null).catch((e: unknown) => e as { code?: string });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await redis!.kill();
    try {
      const error = await waiting;
      expect(['EIO', 'ETIMEDOUT']).toContain((error as { code?: string }).code);
    } finally {
      await redis!.restart();
    }
    await r.close();
    await b.close();
  });

  it('a write to a pubsub channel publishes before write resolves, one message per line', async () => {
    const b = backend();
    const channel = randomName();
    const r = await b.open(`/pubsub/${channel}`, parseOpenFlags('r'));
    const w = await b.open(`/pubsub/${channel}`, parseOpenFlags('w'));
    await w.write!(bytes('a\nb\n'), null);
    expect(await lines(r, 2)).toEqual(['a', 'b']);
    await Promise.all([r.close(), w.close()]);
    await b.close();
  });
});
