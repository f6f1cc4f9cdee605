import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { expectCode } from '@shylock/conformance';
import { createPolicy } from '../src/index.js';

describe('createPolicy', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** How many `bytes`-sized reads of `path` pass in `ms` of fake time. */
  async function count(policy: ReturnType<typeof createPolicy>, path: string, bytes: number, ms: number) {
    let n = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        await policy.acquire(path, 'read', bytes);
        if (running) n++;
      }
    })();
    await vi.advanceTimersByTimeAsync(ms);
    running = false;
    policy.replace([]);
    await loop;
    return n;
  }

  it('a path with no rule passes at once', async () => {
    const policy = createPolicy([{ path: '/users/lhj', readOpsPerSec: 1 }]);
    for (let i = 0; i < 100; i++) await policy.acquire('/other/x', 'read', 1 << 20);
  });
  it('a rule budget is shared by every file under its path', async () => {
    const policy = createPolicy([{ path: '/users/lhj/', readOpsPerSec: 10, burst: { ops: 1 } }]);
    let n = 0;
    let running = true;
    const loops = ['/users/lhj/a', '/users/lhj/b/c', '/users/lhj/d'].map(async (p) => {
      while (running) {
        await policy.acquire(p, 'read', 0);
        if (running) n++;
      }
    });
    await vi.advanceTimersByTimeAsync(2000);
    running = false;
    policy.replace([]);
    await Promise.all(loops);
    expect(Math.abs(n - 21)).toBeLessThanOrEqual(1);
  });
  it('prefixes match whole segments only', async () => {
    const policy = createPolicy([{ path: '/users/lhj', readOpsPerSec: 1, burst: { ops: 1 } }]);
    await policy.acquire('/users/lhj/x', 'read', 0);
    // /users/lhjx is not under /users/lhj: never throttled
    for (let i = 0; i < 50; i++) await policy.acquire('/users/lhjx/y', 'read', 0);
  });
  it('nested rules all apply: the tighter one governs', async () => {
    const policy = createPolicy([
      { path: '/a', readOpsPerSec: 100, burst: { ops: 1 } },
      { path: '/a/b', readOpsPerSec: 5, burst: { ops: 1 } },
    ]);
    expect(Math.abs((await count(policy, '/a/b/f', 0, 2000)) - 11)).toBeLessThanOrEqual(1);
    const loose = createPolicy([
      { path: '/a', readOpsPerSec: 5, burst: { ops: 1 } },
      { path: '/a/b', readOpsPerSec: 100, burst: { ops: 1 } },
    ]);
    expect(Math.abs((await count(loose, '/a/b/f', 0, 2000)) - 11)).toBeLessThanOrEqual(1);
  });
  it('read and write budgets are separate', async () => {
    const policy = createPolicy([{ path: '/x', readOpsPerSec: 1, burst: { ops: 1 } }]);
    await policy.acquire('/x/f', 'read', 0);
    for (let i = 0; i < 20; i++) await policy.acquire('/x/f', 'write', 4096);
  });
  it('rules written under the root (mountpoint) match paths inside the mount', async () => {
    const policy = createPolicy([{ path: '/mnt/b/foo/foo/', readBytesPerSec: 1000 }], { root: '/mnt/b' });
    expect(policy.rules()).toEqual([{ path: '/foo/foo', readBytesPerSec: 1000 }]);
    expect(policy.get('/mnt/b/foo/foo')).toEqual(policy.get('/foo/foo'));
    const n = await count(policy, '/foo/foo/file', 1000, 3000);
    expect(Math.abs(n - (3 + 131))).toBeLessThanOrEqual(1); // 3 s of 1000 B/s plus the 128 KiB burst
  });
  it('bad rules throw EINVAL naming what to fix', async () => {
    await expectCode(() => createPolicy([{ path: '', readBytesPerSec: 1 }]), 'EINVAL');
    await expectCode(() => createPolicy([{ path: '/a', readBytesPerSec: -1 }]), 'EINVAL');
    await expectCode(() => createPolicy([{ path: '/a', writeOpsPerSec: Number.NaN }]), 'EINVAL');
    await expectCode(() => createPolicy([{ path: '/a', readOpsPerSec: 'x' as unknown as number }]), 'EINVAL');
    await expectCode(() => createPolicy([{ path: '/a' }, { path: '/a/' }]), 'EINVAL');
    expect(() => createPolicy([{ path: '/a', readBytesPerSec: -1 }])).toThrow(/readBytesPerSec/);
  });
  it('add rejects EEXIST, update ENOENT, remove returns whether there was a rule', async () => {
    const policy = createPolicy([{ path: '/a', readOpsPerSec: 1 }]);
    await expectCode(() => policy.add({ path: '/a/', readOpsPerSec: 2 }), 'EEXIST');
    await expectCode(() => policy.update({ path: '/b', readOpsPerSec: 2 }), 'ENOENT');
    expect(policy.update({ path: '/a', readOpsPerSec: 2 })).toEqual({ path: '/a', readOpsPerSec: 2 });
    expect(policy.remove('/a')).toBe(true);
    expect(policy.remove('/a')).toBe(false);
    expect(policy.empty).toBe(true);
  });
  it('removing a rule releases its waiters', async () => {
    const policy = createPolicy([{ path: '/q', readOpsPerSec: 1, burst: { ops: 1 } }]);
    await policy.acquire('/q/f', 'read', 0);
    const waiting = Promise.all([1, 2, 3].map(() => policy.acquire('/q/f', 'read', 0)));
    policy.remove('/q');
    await waiting;
  });
  it('replace checks every rule before changing anything', async () => {
    const policy = createPolicy([{ path: '/keep', readOpsPerSec: 1 }]);
    await expectCode(
      () =>
        policy.replace([
          { path: '/new', readOpsPerSec: 2 },
          { path: '/bad', readOpsPerSec: -1 },
        ]),
      'EINVAL',
    );
    expect(policy.rules()).toEqual([{ path: '/keep', readOpsPerSec: 1 }]);
    policy.replace([{ path: '/new', readOpsPerSec: 2 }]);
    expect(policy.rules()).toEqual([{ path: '/new', readOpsPerSec: 2 }]);
  });
  it('an update applies to a reader already waiting', async () => {
    const policy = createPolicy([{ path: '/s', readBytesPerSec: 100, burst: { bytes: 100 } }]);
    await policy.acquire('/s/f', 'read', 100);
    let done = false;
    void policy.acquire('/s/f', 'read', 50).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toBe(false);
    policy.update({ path: '/s', readBytesPerSec: 1 << 20 });
    await vi.advanceTimersByTimeAsync(2);
    expect(done).toBe(true);
  });
  it('bind gives a limiter-like view of one path', async () => {
    const policy = createPolicy([{ path: '/u', readBytesPerSec: 1000, burst: { bytes: 1000 } }]);
    const view = policy.bind('/u/file', 'read');
    await view.acquire(1000);
    expect(policy.stats()[0]!.read.bytes).toBe(1000);
  });
  it('10,000 rules are looked up by path depth, not by count', async () => {
    const rules = Array.from({ length: 10_000 }, (_, i) => ({ path: `/users/u${i}`, readBytesPerSec: 1 << 30 }));
    const policy = createPolicy(rules);
    expect(policy.rules().length).toBe(10_000);
    await policy.acquire('/users/u9999/deep/file', 'read', 10);
    expect(policy.stats().find((s) => s.path === '/users/u9999')!.read.bytes).toBe(10);
  });
});
