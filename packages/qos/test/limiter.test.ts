import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { expectCode } from '@shylock/conformance';
import { createLimiter } from '../src/index.js';

const FAKE = { toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] as const };

/** Runs `consumers` loops of acquire(chunk) for `seconds` of fake time; returns bytes granted. */
async function drive(limiter: ReturnType<typeof createLimiter>, seconds: number, chunk: number, consumers = 1): Promise<number[]> {
  const granted = Array.from({ length: consumers }, () => 0);
  let running = true;
  const loops = granted.map(async (_, i) => {
    while (running) {
      await limiter.acquire(chunk);
      if (running) granted[i]! += chunk;
    }
  });
  await vi.advanceTimersByTimeAsync(seconds * 1000);
  running = false;
  limiter.release();
  await Promise.all(loops);
  return granted;
}

describe('createLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...FAKE.toFake] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a negative, NaN or non-numeric rate throws EINVAL naming the option', async () => {
    await expectCode(() => createLimiter({ bytesPerSecond: -1 }), 'EINVAL');
    await expectCode(() => createLimiter({ opsPerSecond: Number.NaN }), 'EINVAL');
    await expectCode(() => createLimiter({ bytesPerSecond: '5' as unknown as number }), 'EINVAL');
    expect(() => createLimiter({ bytesPerSecond: -1 })).toThrow(/bytesPerSecond/);
    await expectCode(() => createLimiter({ burst: -2 }), 'EINVAL');
  });
  it('acquire of a negative amount rejects EINVAL', async () => {
    await expectCode(createLimiter().acquire(-5), 'EINVAL');
    await expectCode(createLimiter().acquire(Infinity), 'EINVAL');
  });
  it('an unlimited limiter grants everything at once', async () => {
    const limiter = createLimiter();
    for (let i = 0; i < 1000; i++) expect(limiter.tryAcquire(1 << 30)).toBe(true);
    await limiter.acquire(1 << 30);
  });
  it('tryAcquire grants within the burst, then refuses without taking anything', () => {
    const limiter = createLimiter({ opsPerSecond: 10, burst: { ops: 3 } });
    expect([1, 2, 3].map(() => limiter.tryAcquire(0))).toEqual([true, true, true]);
    expect(limiter.tryAcquire(0)).toBe(false);
    vi.advanceTimersByTime(100);
    expect(limiter.tryAcquire(0)).toBe(true);
    expect(limiter.stats().ops).toBe(4);
  });
  it('tryAcquire of more than the burst borrows from a full bucket, unless told not to', () => {
    const limiter = createLimiter({ bytesPerSecond: 1000, burst: { bytes: 100 } });
    expect(limiter.tryAcquire(500, 0, false)).toBe(false);
    expect(limiter.stats().bytes).toBe(0);
    expect(limiter.tryAcquire(100, 0, false)).toBe(true);
    vi.advanceTimersByTime(100);
    expect(limiter.tryAcquire(500)).toBe(true);
    expect(limiter.tryAcquire(1)).toBe(false);
  });
  it('waiters are served in arrival order', async () => {
    const limiter = createLimiter({ bytesPerSecond: 1000, burst: { bytes: 10 } });
    await limiter.acquire(10);
    const order: number[] = [];
    const all = [5, 1, 8, 2, 3].map((n, i) => limiter.acquire(n).then(() => order.push(i)));
    expect(limiter.tryAcquire(1)).toBe(false); // never jumps the queue
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });
  it('a request larger than the burst passes, and later callers pay its debt', async () => {
    const limiter = createLimiter({ bytesPerSecond: 10_000, burst: { bytes: 100 } });
    const t0 = performance.now();
    await limiter.acquire(1000); // 10× the burst: passes at once on a full bucket
    expect(performance.now() - t0).toBe(0);
    const next = limiter.acquire(100);
    await vi.advanceTimersByTimeAsync(99);
    let done = false;
    void next.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    expect(done).toBe(true);
  });
  it('an aborted acquire rejects ECANCELED and gives its place back', async () => {
    const limiter = createLimiter({ opsPerSecond: 10, burst: { ops: 1 } });
    await limiter.acquire();
    const controller = new AbortController();
    const first = limiter.acquire(0, { signal: controller.signal });
    let secondAt = -1;
    const t0 = performance.now();
    const second = limiter.acquire().then(() => (secondAt = performance.now() - t0));
    await vi.advanceTimersByTimeAsync(50);
    controller.abort();
    await expectCode(first, 'ECANCELED');
    await vi.advanceTimersByTimeAsync(200);
    await second;
    expect(secondAt).toBeGreaterThanOrEqual(99);
    expect(secondAt).toBeLessThanOrEqual(101);
    expect(limiter.stats().queued).toBe(0);
  });
  it('an acquire with an already aborted signal rejects ECANCELED', async () => {
    await expectCode(createLimiter().acquire(1, { signal: AbortSignal.abort() }), 'ECANCELED');
  });
  it('update applies to waiters at once', async () => {
    const limiter = createLimiter({ bytesPerSecond: 10, burst: { bytes: 200 } });
    await limiter.acquire(200);
    let done = false;
    void limiter.acquire(100).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(done).toBe(false); // due at 10 s at 10 B/s
    limiter.update({ bytesPerSecond: 1_000_000 });
    await vi.advanceTimersByTimeAsync(2);
    expect(done).toBe(true);
  });
  it('release lets every waiter through', async () => {
    const limiter = createLimiter({ opsPerSecond: 1, burst: { ops: 1 } });
    await limiter.acquire();
    const waiting = Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire()]);
    limiter.release();
    await waiting;
  });
  for (const [label, rate, chunk] of [
    ['64 KiB/s', 64 * 1024, 1024],
    ['1 MiB/s', 1 << 20, 16 * 1024],
    ['256 MiB/s', 256 << 20, 1 << 20],
  ] as const) {
    it(`the long-run rate at ${label} is exact: granted = rate × time + burst`, async () => {
      const limiter = createLimiter({ bytesPerSecond: rate });
      const burst = Math.max(128 * 1024, rate * 0.05);
      const [total] = await drive(limiter, 10, chunk);
      expect(Math.abs(total! - (rate * 10 + burst))).toBeLessThanOrEqual(2 * chunk);
    });
  }
  it('ops per second are held exactly', async () => {
    const limiter = createLimiter({ opsPerSecond: 200 });
    let ops = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        await limiter.acquire();
        if (running) ops++;
      }
    })();
    await vi.advanceTimersByTimeAsync(5000);
    running = false;
    limiter.release();
    await loop;
    expect(Math.abs(ops - (200 * 5 + 10))).toBeLessThanOrEqual(1);
  });
  it('50 concurrent consumers share one rule fairly', async () => {
    const rate = 1 << 20;
    const limiter = createLimiter({ bytesPerSecond: rate });
    const shares = await drive(limiter, 10, 4096, 50);
    const total = shares.reduce((a, b) => a + b, 0);
    expect(Math.abs(total - (rate * 10 + 128 * 1024))).toBeLessThanOrEqual(50 * 4096);
    const fair = total / 50;
    for (const share of shares) expect(Math.abs(share - fair) / fair).toBeLessThan(0.02);
  });
  it('refund gives back what a grant took, as if never taken, and no more than a full bucket', () => {
    const l = createLimiter({ bytesPerSecond: 1000, burst: { bytes: 1000 } });
    expect(l.tryAcquire(1000, 0)).toBe(true);
    expect(l.tryAcquire(1, 0)).toBe(false);
    l.refund(400, 0);
    expect(l.stats().bytes).toBe(600);
    expect(l.tryAcquire(400, 0)).toBe(true);
    expect(l.tryAcquire(100, 0)).toBe(false);
    l.refund(5000, 0); // more than was taken: the bucket is full, not fuller
    expect(l.tryAcquire(1000, 0)).toBe(true);
    expect(l.tryAcquire(100, 0)).toBe(false);
  });
});
