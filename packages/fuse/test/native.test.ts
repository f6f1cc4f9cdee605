import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBackend } from '@shylock/local';
import { createPolicy, type Policy } from '@shylock/qos';
import { mount, type Mount } from '../src/index.js';
import { ddRate, sh, tempDir } from './helpers.js';

const MiB = 1 << 20;

// A local directory's handles carry their file descriptor (FileHandle.native): the FUSE threads
// read and write it themselves. QoS still holds, by prepaid credit (refunded when unused) for
// loose rules and the JavaScript path for tight ones; a rule change stops prepaid I/O at once.
describe('native I/O through a local mount', () => {
  let m: Mount;
  let mq: Mount;
  let mnt: string;
  let mntQ: string;
  let backing: string;
  let policy: Policy;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    let c: () => Promise<void>;
    [backing, c] = await tempDir('native-backing');
    cleanups.push(c);
    [mnt, c] = await tempDir('native');
    cleanups.push(c);
    [mntQ, c] = await tempDir('native-qos');
    cleanups.push(c);
    for (const d of ['tight', 'loose', 'free', 'small', 'live', 'ops']) await mkdir(`${backing}/${d}`);
    await writeFile(`${backing}/tight/big`, new Uint8Array(10 * MiB));
    await writeFile(`${backing}/loose/big`, new Uint8Array(256 * MiB));
    await writeFile(`${backing}/live/big`, new Uint8Array(64 * MiB));
    await writeFile(`${backing}/ops/big`, new Uint8Array(64 * MiB));
    for (let i = 0; i < 100; i++) await writeFile(`${backing}/small/f${i}`, new Uint8Array(4096).fill(i));
    policy = createPolicy(
      [
        { path: '/tight', readBytesPerSec: 2 * MiB },
        { path: '/loose', readBytesPerSec: 64 * MiB },
        { path: '/small', readBytesPerSec: 8 * MiB },
        { path: '/live', readBytesPerSec: 64 * MiB, burst: 1 },
        { path: '/ops', readOpsPerSec: 1_000_000 },
      ],
      { root: mntQ },
    );
    m = await mount(localBackend({ root: backing }), mnt);
    mq = await mount(localBackend({ root: backing }), mntQ, { qos: policy });
  });
  afterAll(async () => {
    await Promise.allSettled([m?.unmount(), mq?.unmount()]);
    for (const c of cleanups.reverse()) await c();
  });

  const within = (actual: number, target: number, tolerance = 0.05) => {
    expect(Math.abs(actual - target) / target, `${Math.round(actual)} vs ${target}`).toBeLessThanOrEqual(tolerance);
  };
  const readBytes = (path: string) => policy.stats().find((s) => s.path === path)!.read.bytes;

  it('random data written with dd through the mount reads back identical, through the mount and beside it', async () => {
    const r = await sh(
      `set -e; head -c 48M /dev/urandom > ${backing}/../native-src-$$
       dd if=${backing}/../native-src-$$ of=${mnt}/free/rand bs=1M status=none
       dd if=${backing}/../native-src-$$ of=${mnt}/free/rand bs=4k seek=3 skip=3 count=5000 conv=notrunc status=none
       cmp ${backing}/../native-src-$$ ${backing}/free/rand
       cmp ${backing}/../native-src-$$ ${mnt}/free/rand
       dd if=${mnt}/free/rand bs=7k skip=11 count=900 status=none | cmp - <(dd if=${backing}/../native-src-$$ bs=7k skip=11 count=900 status=none)
       rm -f ${backing}/../native-src-$$`,
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
  });
  it('stat through the mount shows the backing file exactly: nanosecond times and its real block count', async () => {
    const r = await sh(
      `set -e; head -c 100000 /dev/urandom > ${backing}/free/exact
       truncate -s 10M ${backing}/free/exact
       touch -d '2021-03-04 05:06:07.123456789' ${backing}/free/exact
       stat -c '%y %b %s %h %u %g %a' ${backing}/free/exact
       stat -c '%y %b %s %h %u %g %a' ${mnt}/free/exact`,
    );
    expect(r.code, r.stderr).toBe(0);
    const [plain, mounted] = r.stdout.trim().split('\n');
    expect(plain).toContain('.123456789');
    expect(mounted).toBe(plain);
  });
  it('a symlink to a directory outside the root looks and resolves as on the backing directory', async () => {
    // The kernel reads the link and follows its target itself, with the caller's permissions, as
    // on any file system: shylock never sees a path through it.
    const r = await sh(
      `set -e; d=$(mktemp -d); echo secret > $d/secret; ln -sfn $d ${backing}/free/escape
       for x in ${backing} ${mnt}; do stat -c '%F %s' $x/free/escape; readlink $x/free/escape; cat $x/free/escape/secret; done
       rm -rf $d ${backing}/free/escape`,
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(3)).toEqual(lines.slice(0, 3));
    expect(lines[0]).toMatch(/^symbolic link/);
  });
  it('appending with >> through the mount keeps both parts', async () => {
    const r = await sh(`printf one > ${mnt}/free/log && printf two >> ${mnt}/free/log && cat ${mnt}/free/log`);
    expect(r.stdout).toBe('onetwo');
  });
  it('a tight 2 MiB/s read rule holds within ±5% (every request waits in JavaScript)', async () => {
    const r = await sh(`dd if=${mntQ}/tight/big of=/dev/null bs=128k`, 30_000);
    expect(r.code).toBe(0);
    within(ddRate(r.stderr), 2 * MiB);
  });
  it('a loose 64 MiB/s read rule holds within ±5% (prepaid native I/O)', async () => {
    const r = await sh(`dd if=${mntQ}/loose/big of=/dev/null bs=1M`, 30_000);
    expect(r.code).toBe(0);
    within(ddRate(r.stderr), 64 * MiB);
  });
  it('a file read natively under a rule is counted byte for byte: unused credit goes back at close', async () => {
    const before = readBytes('/small');
    const r = await sh(`for i in $(seq 0 99); do cat ${mntQ}/small/f$i; done | wc -c`, 30_000);
    expect(r.stdout.trim()).toBe(String(100 * 4096));
    // The kernel sends each release after close(2) has returned: the last refund may lag.
    for (let i = 0; i < 100 && readBytes('/small') - before !== 100 * 4096; i++) await new Promise((res) => setTimeout(res, 20));
    expect(readBytes('/small') - before).toBe(100 * 4096);
  });
  it('a file read natively holds about the operations it uses, not one per 4 KiB', async () => {
    // 32 MiB read 128 KiB at a time is at most 256 requests. Prepaid credit counts as spent until
    // close: one operation per 4 KiB would hold 8,192 and more for the chunk ahead.
    const opsNow = () => policy.stats().find((s) => s.path === '/ops')!.read.ops;
    const before = opsNow();
    const child = spawn('python3', [
      '-c',
      `import sys, time
f = open(sys.argv[1], 'rb', buffering=0)
n = 0
while n < 32 * 1048576: n += len(f.read(131072))
print('read', flush=True)
time.sleep(2)`,
      `${mntQ}/ops/big`,
    ]);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('read') && resolve());
        child.on('exit', () => reject(new Error('the reader ended early')));
      });
      // The kernel reads ahead up to 1 MiB per request: 32 to 256 requests, each one op.
      const held = opsNow() - before;
      expect(held).toBeGreaterThanOrEqual(32);
      expect(held).toBeLessThan(512);
    } finally {
      child.kill();
      await exited;
    }
  });
  it('a rule tightened while a file is read natively applies at once, prepaid credit or not', async () => {
    // Reading 4.5 MiB under 64 MiB/s with a 1 s burst leaves megabytes of prepaid credit (chunks
    // double from 256 KiB). The rule then drops to 512 KiB/s: the next 2 MiB must take about 4 s, not run on
    // the credit paid under the old rule.
    const reading = sh(
      `python3 -c "
import sys, time
f = open(sys.argv[1], 'rb', buffering=0)
n = 0
while n < 4608 * 1024: n += len(f.read(131072))
time.sleep(1.5)
t = time.perf_counter(); m = 0
while m < 2 * 1048576: m += len(f.read(131072))
print(time.perf_counter() - t)" ${mntQ}/live/big`,
      30_000,
    );
    await new Promise((r) => setTimeout(r, 800));
    policy.update({ path: '/live', readBytesPerSec: 512 * 1024 });
    const r = await reading;
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout), r.stdout).toBeGreaterThan(3);
  });
});
