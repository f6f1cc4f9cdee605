import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '@shylock/conformance';
import { mount, type Mount } from '@shylock/fuse';
import { createPolicy } from '@shylock/qos';
import { type KilledDuringWrite, killDuringWrite, startOrSkip, startRedis } from '@shylock/test-servers';
import { redisBackend } from '../src/index.js';

// The mount lives in this process, whose main thread serves FUSE: every access goes through a
// shell child.
const { server: redis, skip } = await startOrSkip(startRedis);
afterAll(() => redis?.stop());
const sh = (cmd: string, timeout = 20_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { timeout }, (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
    ),
  );

describe.skipIf(!redis)(`a Redis mount seen from the shell${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let mnt: string;
  let roMnt: string;
  let rw: Mount;
  let ro: Mount;
  const cli = () => `redis-cli -p ${redis!.port}`;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'shylock-redis-mnt-'));
    roMnt = await mkdtemp(join(tmpdir(), 'shylock-redis-ro-'));
    rw = await mount(redisBackend({ host: redis!.endpoint, timeoutMs: 1000, maxValueBytes: 1 << 20 }), mnt);
    ro = await mount(redisBackend({ host: redis!.endpoint }), roMnt, { readOnly: true });
  });
  afterAll(async () => {
    // Both, even when one fails: a mount left behind outlives this process.
    await Promise.allSettled([rw?.unmount(), ro?.unmount()]);
    await rm(mnt, { recursive: true, force: true });
    await rm(roMnt, { recursive: true, force: true });
  });

  it('echo into kv/ is a key redis-cli GETs; a key redis-cli SETs shows in ls and cat', async () => {
    const dir = randomName();
    expect((await sh(`mkdir ${mnt}/kv/${dir} && echo hello > ${mnt}/kv/${dir}/greeting`)).stderr).toBe('');
    expect((await sh(`${cli()} GET ${dir}/greeting`)).stdout).toBe('hello\n\n');
    await sh(`${cli()} SET ${dir}/from-cli 'set elsewhere'`);
    expect((await sh(`cat ${mnt}/kv/${dir}/from-cli; echo; ls ${mnt}/kv/${dir}`)).stdout).toBe('set elsewhere\nfrom-cli\ngreeting\n');
    const r = await sh(
      `cd ${mnt}/kv && mv ${dir}/greeting ${dir}/renamed && cp -r ${dir} ${dir}-copy && cat ${dir}-copy/renamed && rm -r ${dir}-copy && ls ${dir}`,
    );
    expect(r.stdout).toBe('hello\nfrom-cli\nrenamed\n');
    expect((await sh(`${cli()} --scan --pattern '${dir}-copy*'`)).stdout).toBe('');
  });

  it('a value comes with its stat and is read with no GET of its own', async () => {
    const key = randomName();
    const long = 'x'.repeat(5000);
    await sh(`${cli()} SET ${key}-small 'four KiB or less' && ${cli()} SET ${key}-long ${long}`);
    const gets = async () => Number(/cmdstat_get:calls=(\d+)/.exec((await sh(`${cli()} INFO commandstats`)).stdout)?.[1] ?? 0);
    const before = await gets();
    expect((await sh(`cat ${mnt}/kv/${key}-small`)).stdout).toBe('four KiB or less');
    expect(await gets()).toBe(before);
    // A longer one too, while the mount's lookups are mostly followed by reads (they ask for it).
    expect((await sh(`cat ${mnt}/kv/${key}-long`)).stdout).toBe(long);
    expect(await gets()).toBe(before);
    // A value changed by another client is read anew (the content lives 200 ms at most).
    await sh(`${cli()} SET ${key}-small 'changed'`);
    expect((await sh(`cat ${mnt}/kv/${key}-small`)).stdout).toBe('changed');
  });

  it('echo over a longer value replaces it whole (O_TRUNC)', async () => {
    const key = randomName();
    expect((await sh(`echo before > ${mnt}/kv/${key} && echo after > ${mnt}/kv/${key} && cat ${mnt}/kv/${key}`)).stdout).toBe('after\n');
    expect((await sh(`${cli()} GET ${key}`)).stdout).toBe('after\n\n');
  });

  it('redis-cli PUBLISH reaches cat on pubsub/, and echo into pubsub/ reaches redis-cli SUBSCRIBE', async () => {
    const channel = randomName();
    const reader = sh(`timeout 5 head -n 2 ${mnt}/pubsub/${channel}`);
    await expect.poll(async () => (await sh(`${cli()} PUBSUB NUMSUB ${channel}`)).stdout, { timeout: 5000 }).toBe(`${channel}\n1\n`);
    await sh(`${cli()} PUBLISH ${channel} first; ${cli()} PUBLISH ${channel} second`);
    expect((await reader).stdout).toBe('first\nsecond\n');

    const sub = spawn('redis-cli', ['-p', String(redis!.port), 'SUBSCRIBE', channel]);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await expect.poll(() => out, { timeout: 5000 }).toContain(channel);
      expect((await sh(`echo deployed v2 > ${mnt}/pubsub/${channel}`)).code).toBe(0);
      await expect.poll(() => out, { timeout: 5000 }).toContain('deployed v2');
    } finally {
      sub.kill();
    }
  });

  it('a queue hands each task to one reader: three head -n 1 readers get three different tasks', async () => {
    const q = randomName();
    await sh(`printf 'a\\nb\\nc\\n' > ${mnt}/queues/${q}`);
    expect((await sh(`${cli()} LRANGE ${q} 0 -1`)).stdout).toBe('a\nb\nc\n');
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await sh(`timeout 5 head -n 1 ${mnt}/queues/${q}`)).stdout);
    expect(got).toEqual(['a\n', 'b\n', 'c\n']);
    expect((await sh(`${cli()} LLEN ${q}`)).stdout).toBe('0\n');
    expect((await sh(`ls ${mnt}/queues`)).stdout).not.toContain(q);
  });

  it('20,000 lines written in large writes arrive intact, one task each', async () => {
    const q = randomName();
    // Writes of 128 KiB split lines across requests: the partial lines must survive.
    const r = await sh(`seq -f 'task-%05g' 1 20000 | dd of=${mnt}/queues/${q} bs=128k iflag=fullblock 2>/dev/null`);
    expect(r.code).toBe(0);
    expect((await sh(`${cli()} LLEN ${q}`)).stdout).toBe('20000\n');
    const all = (await sh(`${cli()} LRANGE ${q} 0 -1`)).stdout.trim().split('\n');
    expect(all).toEqual(Array.from({ length: 20000 }, (_, i) => `task-${String(i + 1).padStart(5, '0')}`));
  });

  it('cat on streams/ reads from the first entry, then follows', async () => {
    const key = randomName();
    await sh(`${cli()} XADD ${key} '*' data old`);
    const reader = sh(`timeout 5 head -n 2 ${mnt}/streams/${key}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await sh(`echo new >> ${mnt}/streams/${key}`);
    expect((await reader).stdout).toBe('old\nnew\n');
    expect((await sh(`ls ${mnt}/streams`)).stdout).toContain(key);
  });

  it('a value over the limit answers "File too large"; a read-only mount answers "Read-only file system"', async () => {
    const r = await sh(`dd if=/dev/zero of=${mnt}/kv/${randomName()} bs=1M count=2`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/File too large/);
    const key = randomName();
    await sh(`${cli()} SET ${key} readable`);
    expect((await sh(`cat ${roMnt}/kv/${key}`)).stdout).toBe('readable');
    expect((await sh(`echo x > ${roMnt}/kv/${key}`)).stderr).toMatch(/Read-only file system/);
    expect((await sh(`echo x > ${roMnt}/pubsub/${key}`)).stderr).toMatch(/Read-only file system/);
  });

  it('a QoS rule on a kv path is held: 320 KiB of keys at 64 KiB/s', async () => {
    const top = randomName();
    const value = 'q'.repeat(16 * 1024);
    await sh(`for i in $(seq 0 19); do ${cli()} SET ${top}/k$i '${value}' >/dev/null; done`);
    const qmnt = await mkdtemp(join(tmpdir(), 'shylock-redis-qos-'));
    const q = await mount(redisBackend({ host: redis!.endpoint }), qmnt, {
      qos: createPolicy([{ path: `/kv/${top}`, readBytesPerSec: 64 * 1024 }]),
    });
    try {
      const t0 = performance.now();
      const r = await sh(`cat ${qmnt}/kv/${top}/k* | wc -c`);
      const seconds = (performance.now() - t0) / 1000;
      expect(r.stdout.trim()).toBe(String(20 * 16 * 1024));
      // (320 KiB − the 128 KiB burst) / 64 KiB/s = 3 s
      expect(seconds).toBeGreaterThan(3 * 0.9);
      expect(seconds).toBeLessThan(3 * 1.2);
    } finally {
      await q.unmount();
      await rm(qmnt, { recursive: true, force: true });
    }
  });

  it('a server killed while a file is open for writing: close fails EIO and nothing is stored; listing and reading fail in seconds; work resumes', async () => {
    const key = randomName();
    expect((await sh(`echo kept > ${mnt}/kv/${key}-kept`)).code).toBe(0);
    let seen: KilledDuringWrite;
    try {
      seen = await killDuringWrite(`${mnt}/kv/${key}`, `${mnt}/kv/${key}-kept`, () => redis!.kill());
    } finally {
      await redis!.restart();
    }
    expect([5, 110]).toContain(seen.close);
    expect([5, 110]).toContain(seen.list);
    expect([5, 110]).toContain(seen.read);
    expect(seen.seconds).toBeLessThan(15);
    // The restarted server is empty (no persistence in the tests): the write was never reported stored.
    await expect.poll(async () => (await sh(`${cli()} EXISTS ${key}`)).stdout.trim(), { timeout: 10_000 }).toBe('0');
    await expect
      .poll(async () => (await sh(`echo again > ${mnt}/kv/${key} && cat ${mnt}/kv/${key}`)).stdout, { timeout: 10_000 })
      .toBe('again\n');
  });
  it('a server stopped mid-test answers "Input/output error" within seconds; work resumes after restart without remounting', async () => {
    const key = randomName();
    await sh(`echo before > ${mnt}/kv/${key}`);
    await redis!.kill();
    try {
      const t0 = performance.now();
      const r = await sh(`cat ${mnt}/kv/${key}`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Input\/output error|Connection timed out/);
      expect(performance.now() - t0).toBeLessThan(5000);
    } finally {
      await redis!.restart();
    }
    await expect
      .poll(async () => (await sh(`echo after > ${mnt}/kv/${key} && cat ${mnt}/kv/${key}`)).stdout, { timeout: 10_000 })
      .toBe('after\n');
  });
});
