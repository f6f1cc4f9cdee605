import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseOpenFlags, readOnly } from '@shylock/core';
import { describeBackend, readText, writeFile } from '@shylock/conformance';
import { memoryBackend } from '@shylock/memory';
import { createLimiter, createPolicy, qosLayer, throttle } from '../src/index.js';

// A rule that never throttles must change nothing a backend does.
describeBackend(
  'qosLayer(memory)',
  () =>
    qosLayer(createPolicy([{ path: '/', readBytesPerSec: 2 ** 40, writeBytesPerSec: 2 ** 40, readOpsPerSec: 1e9 }]))(
      memoryBackend({ streams: ['/streams'] }),
    ),
  { streams: { dir: '/streams', fanout: true } },
);

describe('qosLayer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  it("a stat's content passes while no rule exists and is dropped while any does (opens from it would not pay)", async () => {
    const inner = memoryBackend({ files: { '/f': 'abc' } });
    const withContent = { ...inner, stat: async (p: string) => ({ ...(await inner.stat(p)), content: new Uint8Array([1, 2, 3]) }) };
    const policy = createPolicy();
    const backend = qosLayer(policy)(withContent);
    expect((await backend.stat('/f')).content).toEqual(new Uint8Array([1, 2, 3]));
    policy.add({ path: '/other', readBytesPerSec: 1 << 20 });
    const s = await backend.stat('/f');
    expect(s.content).toBeUndefined();
    expect(s.size).toBe(3);
  });
  it('a read is charged the bytes it returned, not the buffer size', async () => {
    const policy = createPolicy([{ path: '/u', readBytesPerSec: 1 << 20 }]);
    const backend = qosLayer(policy)(memoryBackend({ files: { '/u/small.txt': 'twelve bytes' } }));
    expect(await readText(backend, '/u/small.txt')).toBe('twelve bytes');
    const [stats] = policy.stats();
    expect(stats!.read.bytes).toBe(12);
    expect(stats!.read.ops).toBe(2); // one read with data, one at end of file
  });
  it('writes, lists and changes are charged to their budgets', async () => {
    const policy = createPolicy([{ path: '/', writeBytesPerSec: 1 << 30, readOpsPerSec: 1e6, writeOpsPerSec: 1e6 }]);
    const backend = qosLayer(policy)(memoryBackend());
    await writeFile(backend, '/a', 'abcd');
    await backend.list('/');
    await backend.mkdir!('/d');
    await backend.rename!('/a', '/d/a');
    const [stats] = policy.stats();
    expect(stats!.write.bytes).toBe(4);
    expect(stats!.write.ops).toBe(3); // write, mkdir, rename
    expect(stats!.read.ops).toBe(1); // list
  });
  it('reads of a throttled path wait for their budget', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const data = 'x'.repeat(4000);
    const policy = createPolicy([{ path: '/slow', readBytesPerSec: 1000, burst: { bytes: 1000 } }]);
    const backend = qosLayer(policy)(memoryBackend({ files: { '/slow/f': data, '/fast/f': data } }));
    const handle = await backend.open('/slow/f', parseOpenFlags('r'));
    const buf = new Uint8Array(1000);
    const t0 = performance.now();
    for (let i = 0; i < 4; i++) {
      const read = handle.read(buf, i * 1000);
      await vi.advanceTimersByTimeAsync(1000);
      expect(await read).toBe(1000);
    }
    expect(performance.now() - t0).toBe(4000);
    await handle.close();
    expect(await readText(backend, '/fast/f')).toBe(data); // no rule: at once
  });
});

describe('qosLayer on files already open', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  it('a rule added after open applies to the next read, and removing it frees the file', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const policy = createPolicy();
    const backend = qosLayer(policy)(memoryBackend({ files: { '/a/f': 'x'.repeat(10_000) } }));
    const handle = await backend.open('/a/f', parseOpenFlags('r'));
    const buf = new Uint8Array(1000);
    expect(await handle.read(buf, 0)).toBe(1000); // no rule yet
    policy.add({ path: '/a', readOpsPerSec: 1, burst: { ops: 1 } });
    expect(await handle.read(buf, 0)).toBe(1000); // the burst
    let done = false;
    const third = handle.read(buf, 0).then((n) => ((done = true), n));
    await vi.advanceTimersByTimeAsync(500);
    expect(done).toBe(false);
    policy.remove('/a');
    await vi.advanceTimersByTimeAsync(1);
    expect(await third).toBe(1000);
    await handle.close();
  });
});

describe('qosLayer and native descriptors', () => {
  const nativeBackend = () => {
    const mem = memoryBackend({ files: { '/u/f': 'x' } });
    // A handle as a local directory's would be: its I/O may be done on the descriptor.
    return {
      ...mem,
      name: mem.name,
      capabilities: mem.capabilities,
      stat: mem.stat.bind(mem),
      list: mem.list.bind(mem),
      close: mem.close.bind(mem),
      async open(path: string, flags: Parameters<typeof mem.open>[1]) {
        const h = await mem.open(path, flags);
        return { read: h.read.bind(h), close: h.close.bind(h), native: { fd: 99, read: true, write: false } };
      },
    };
  };
  it('passes the descriptor on with a price: charge takes from the rule, refund gives it back', async () => {
    const policy = createPolicy([{ path: '/u', readBytesPerSec: 1 << 20, burst: 1 }]);
    const h = await qosLayer(policy)(nativeBackend()).open('/u/f', parseOpenFlags('r'));
    expect(h.native).toMatchObject({ fd: 99, read: true, write: false });
    expect(h.native!.charge!('read', 600 << 10, 10)).toBe(true);
    expect(policy.stats()[0]!.read.bytes).toBe(600 << 10);
    expect(h.native!.charge!('read', 600 << 10, 10)).toBe(false); // the 1 MiB burst is spent
    h.native!.refund!('read', 500 << 10, 10);
    expect(policy.stats()[0]!.read.bytes).toBe(100 << 10);
    expect(h.native!.charge!('read', 600 << 10, 10)).toBe(true);
    await h.close();
  });
  it('a read-only layer outside keeps the price: native reads are still charged (mount({ qos, readOnly }))', async () => {
    const policy = createPolicy([{ path: '/u', readBytesPerSec: 1 << 20, burst: 1 }]);
    const h = await readOnly(qosLayer(policy)(nativeBackend())).open('/u/f', parseOpenFlags('r'));
    expect(h.native).toMatchObject({ fd: 99, read: true, write: false });
    expect(h.native!.charge!('read', 1 << 20, 1)).toBe(true);
    expect(h.native!.charge!('read', 1 << 20, 1)).toBe(false);
    expect(policy.stats()[0]!.read.bytes).toBe(1 << 20);
    await h.close();
  });
  it('a path without a rule charges nothing and always pays', async () => {
    const policy = createPolicy([{ path: '/other', readBytesPerSec: 1 }]);
    const h = await qosLayer(policy)(nativeBackend()).open('/u/f', parseOpenFlags('r'));
    expect(h.native!.charge!('read', 1 << 30, 1000)).toBe(true);
    await h.close();
  });
});

describe('policy.onChange', () => {
  it('tells each change of the rules, until unsubscribed', () => {
    const policy = createPolicy();
    let changes = 0;
    const stop = policy.onChange!(() => changes++);
    policy.add({ path: '/a', readBytesPerSec: 1 });
    policy.update({ path: '/a', readBytesPerSec: 2 });
    policy.set({ path: '/b', readBytesPerSec: 1 });
    policy.remove('/a');
    policy.replace([]);
    expect(changes).toBe(5);
    stop();
    policy.add({ path: '/c', readBytesPerSec: 1 });
    expect(changes).toBe(5);
  });
});

describe('throttle', () => {
  it('passes every byte through unchanged', async () => {
    const input = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i & 255));
    const out: Buffer[] = [];
    await pipeline(
      Readable.from([input.subarray(0, 70_000), input.subarray(70_000)]),
      throttle(createLimiter({ bytesPerSecond: 1 << 30 })),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          out.push(chunk);
          cb();
        },
      }),
    );
    expect(Buffer.compare(Buffer.concat(out), input)).toBe(0);
    expect(Math.max(...out.map((c) => c.length))).toBeLessThanOrEqual(16 * 1024);
  });
  it('paces a stream to the limiter rate', async () => {
    // 64 KiB at 256 KiB/s after a 16 KiB burst: at least 180 ms.
    const limiter = createLimiter({ bytesPerSecond: 256 * 1024, burst: { bytes: 16 * 1024 } });
    const t0 = performance.now();
    await pipeline(Readable.from([Buffer.alloc(64 * 1024)]), throttle(limiter), new Writable({ write: (_c, _e, cb) => cb() }));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(180);
  });
  it('a destroyed stream stops waiting', async () => {
    const limiter = createLimiter({ bytesPerSecond: 1, burst: { bytes: 1 } });
    const t = throttle(limiter);
    t.write(Buffer.alloc(10));
    await new Promise((r) => setTimeout(r, 20));
    t.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect(limiter.stats().queued).toBe(0);
  });
  it('a bad chunkSize throws', () => {
    expect(() => throttle(createLimiter(), { chunkSize: 0 })).toThrow(/chunkSize/);
  });
});
