import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, type Mount } from '@shylock/fuse';
import { createPolicy } from '@shylock/qos';
import { type KilledDuringWrite, killDuringWrite, startEtcd, startOrSkip } from '@shylock/test-servers';
import { etcdBackend } from '../src/index.js';

const { server: etcd, skip } = await startOrSkip(startEtcd);
afterAll(() => etcd?.stop());
const sh = (cmd: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { env: { ...process.env, ETCDCTL_API: '3' } }, (e, stdout, stderr) =>
      resolve({ code: e ? 1 : 0, stdout, stderr }),
    ),
  );

describe.skipIf(!etcd)(`an etcd mount seen from the shell${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let mnt: string;
  let rw: Mount;
  let ro: Mount;
  let roMnt: string;
  const ctl = () => `etcdctl --endpoints ${etcd!.endpoint}`;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'shylock-etcd-mnt-'));
    roMnt = await mkdtemp(join(tmpdir(), 'shylock-etcd-ro-'));
    rw = await mount(etcdBackend({ endpoints: etcd!.endpoint, prefix: '/fs' }), mnt);
    ro = await mount(etcdBackend({ endpoints: etcd!.endpoint, prefix: '/fs' }), roMnt, { readOnly: true });
  });
  afterAll(async () => {
    // Both, even when one fails: a mount left behind outlives this process.
    await Promise.allSettled([rw?.unmount(), ro?.unmount()]);
    await rm(mnt, { recursive: true, force: true });
    await rm(roMnt, { recursive: true, force: true });
  });

  it('a file written through the mount is read by etcdctl get', async () => {
    expect((await sh(`mkdir -p ${mnt}/conf && echo hello > ${mnt}/conf/greeting`)).stderr).toBe('');
    expect((await sh(`${ctl()} get --print-value-only /fs/conf/greeting`)).stdout).toBe('hello\n\n');
  });
  it('echo over a longer value replaces it whole (O_TRUNC)', async () => {
    expect((await sh(`echo before > ${mnt}/conf/trunc && echo after > ${mnt}/conf/trunc && cat ${mnt}/conf/trunc`)).stdout).toBe('after\n');
    expect((await sh(`${ctl()} get --print-value-only /fs/conf/trunc`)).stdout).toBe('after\n\n');
    await sh(`rm ${mnt}/conf/trunc`);
  });
  it('reads at any offset return the value (the FUSE threads copy them out of it)', async () => {
    const r = await sh(
      `set -e; seq 1 20000 > /tmp/shylock-etcd-seq-$$; cp /tmp/shylock-etcd-seq-$$ ${mnt}/conf/seq
       dd if=${mnt}/conf/seq bs=777 skip=13 count=50 status=none | cmp - <(dd if=/tmp/shylock-etcd-seq-$$ bs=777 skip=13 count=50 status=none)
       dd if=${mnt}/conf/seq bs=4096 skip=26 status=none | cmp - <(dd if=/tmp/shylock-etcd-seq-$$ bs=4096 skip=26 status=none)
       cmp ${mnt}/conf/seq /tmp/shylock-etcd-seq-$$
       rm /tmp/shylock-etcd-seq-$$ ${mnt}/conf/seq`,
    );
    expect(r.code, r.stderr).toBe(0);
  });
  it('a key put by etcdctl appears in the mount at once', async () => {
    await sh(`${ctl()} put /fs/conf/from-ctl 'set elsewhere'`);
    expect((await sh(`cat ${mnt}/conf/from-ctl && ls ${mnt}/conf`)).stdout).toBe('set elsewherefrom-ctl\ngreeting\n');
  });
  it('a key etcdctl changes right after ls -l shows its new size at once (the prefix watch)', async () => {
    await sh(`${ctl()} put /fs/watched/a x`);
    expect((await sh(`ls -l ${mnt}/watched`)).stdout).toMatch(/ 1 [^\n]* a\n/); // the listing's stats are now cached
    await sh(`${ctl()} put /fs/watched/a xxxxxxxxxx`);
    // Within the listing cache's second: only the watch can have told the mount.
    await expect.poll(async () => (await sh(`stat -c %s ${mnt}/watched/a`)).stdout, { timeout: 400, interval: 20 }).toBe('10\n');
    await sh(`${ctl()} del --prefix /fs/watched`);
  });
  it('a 2 MiB write answers "File too large" (EFBIG) from the shell', async () => {
    const r = await sh(`dd if=/dev/zero of=${mnt}/conf/big bs=1M count=2`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/File too large/);
  });
  it('a read-only mount reads and answers "Read-only file system" (EROFS)', async () => {
    expect((await sh(`cat ${roMnt}/conf/greeting`)).stdout).toBe('hello\n');
    expect((await sh(`echo x > ${roMnt}/conf/greeting`)).stderr).toMatch(/Read-only file system/);
  });
  it('a QoS rule on an etcd path is held: 320 KiB of keys at 64 KiB/s', async () => {
    const value = 'q'.repeat(16 * 1024);
    for (let i = 0; i < 20; i++) await sh(`${ctl()} put /slow/k${i} '${value}'`);
    const qmnt = await mkdtemp(join(tmpdir(), 'shylock-etcd-qos-'));
    const policy = createPolicy([{ path: '/slow', readBytesPerSec: 64 * 1024 }]);
    const q = await mount(etcdBackend({ endpoints: etcd!.endpoint }), qmnt, { qos: policy });
    try {
      const t0 = performance.now();
      const r = await sh(`cat ${qmnt}/slow/k* | wc -c`);
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
  it('a cluster killed while a file is open for writing: close fails EIO and nothing is stored; listing and reading fail in seconds; work resumes', async () => {
    expect((await sh(`mkdir -p ${mnt}/conf && echo kept > ${mnt}/conf/kept`)).code).toBe(0);
    let seen: KilledDuringWrite;
    try {
      seen = await killDuringWrite(`${mnt}/conf/lost`, `${mnt}/conf/kept`, () => etcd!.kill());
    } finally {
      await etcd!.restart();
    }
    // EIO (5) or ETIMEDOUT (110): never a close that reports success for bytes the server lacks.
    expect([5, 110]).toContain(seen.close);
    expect([5, 110]).toContain(seen.list);
    expect([5, 110]).toContain(seen.read);
    expect(seen.seconds).toBeLessThan(15);
    await expect.poll(async () => (await sh(`cat ${mnt}/conf/kept`)).stdout, { timeout: 15_000, interval: 250 }).toBe('kept\n');
    expect((await sh(`${ctl()} get --print-value-only /fs/conf/lost`)).stdout).toBe('');
    await sh(`rm ${mnt}/conf/kept`);
  });
  it('a cluster stopped mid-test answers "Input/output error" within seconds; work resumes after restart without remounting', async () => {
    expect((await sh(`echo before > ${mnt}/conf/outage`)).code).toBe(0);
    await etcd!.kill();
    try {
      const t0 = performance.now();
      const r = await sh(`cat ${mnt}/conf/outage`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Input\/output error|Connection timed out/);
      expect(performance.now() - t0).toBeLessThan(8000);
    } finally {
      await etcd!.restart();
    }
    // etcd keeps its data across the restart; the same mount reads and writes again.
    await expect.poll(async () => (await sh(`cat ${mnt}/conf/outage`)).stdout, { timeout: 15_000, interval: 250 }).toBe('before\n');
    expect((await sh(`echo after > ${mnt}/conf/outage && cat ${mnt}/conf/outage && rm ${mnt}/conf/outage`)).stdout).toBe('after\n');
  });
  it('mv, cp and rm -r work on keys', async () => {
    const r = await sh(`cd ${mnt} && mv conf/greeting conf/renamed && cp -r conf copy && cat copy/renamed && rm -r copy && ls`);
    expect(r.stdout).toBe('hello\nconf\n');
    expect((await sh(`${ctl()} get --keys-only --prefix /fs/copy`)).stdout).toBe('');
  });
});
