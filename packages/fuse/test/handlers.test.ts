import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineBackend, ERRNO, type Backend, NO_CAPABILITIES } from '@shylock/core';
import { localBackend } from '@shylock/local';
import { memoryBackend } from '@shylock/memory';
import { createPolicy, qosLayer } from '@shylock/qos';
import { describe, expect, it } from 'vitest';
import { type Caller, DIRECT_IO, type FuseHandlers, type FuseStat, type NativeSession, OMITTED, SERVE_NATIVE } from '../src/binding.js';
import { createHandlers } from '../src/handlers.js';
import { ListingCache } from '../src/listing-cache.js';
import { NativeIo } from '../src/native-io.js';
import { OpenFiles } from '../src/open-files.js';
import { Requests } from '../src/requests.js';

// The FUSE handlers over a fake binding session: no kernel, no /dev/fuse, no root needed.

/** A fake session: the caller is settable, the native table a Map with the binding's credit rules. */
class FakeSession implements NativeSession {
  who: Caller = { uid: 0, gid: 0, pid: 1, umask: 0o022 };
  readonly table = new Map<number, { fd?: number; bytes?: Uint8Array; flags: number; credit: number[] }>();
  caller() {
    return this.who;
  }
  fastOpen(fh: number, fd: number, flags: number, rb: number, ro: number, wb: number, wo: number) {
    this.table.set(fh, { fd, flags, credit: [rb, ro, wb, wo] });
    return true;
  }
  fastOpenMemory(fh: number, bytes: Uint8Array, flags: number, rb: number, ro: number) {
    this.table.set(fh, { bytes, flags, credit: [rb, ro, 0, 0] });
    return true;
  }
  fastCredit(fh: number, write: boolean, bytes: number, ops: number): [number, number] | null {
    const e = this.table.get(fh);
    if (!e) return null;
    const i = write ? 2 : 0;
    if (e.credit[i]! >= 0) e.credit[i]! += bytes;
    if (e.credit[i + 1]! >= 0) e.credit[i + 1]! += ops;
    return [e.credit[i]!, e.credit[i + 1]!];
  }
  fastClose(fh: number): [number, number, number, number] | null {
    const e = this.table.get(fh);
    this.table.delete(fh);
    return e ? (e.credit as [number, number, number, number]) : null;
  }
}

function setup(backend: Backend, o: { timeoutMs?: number; nativeIo?: boolean; onError?: (code: string, op: string) => void } = {}) {
  const session = new FakeSession();
  const listings = new ListingCache(1000);
  const requests = new Requests({
    backend: backend.name,
    timeoutMs: o.timeoutMs ?? 30_000,
    pollMs: 0,
    onError: o.onError && ((e, op) => o.onError!(e.code, op)),
    onMutation: () => listings.forget(),
  });
  const h = createHandlers({
    fs: backend,
    session,
    requests,
    open: new OpenFiles(),
    listings,
    native: new NativeIo(session, o.nativeIo ?? true),
    directIo: false,
    uid: 0,
    gid: 0,
  });
  /** Calls a handler and resolves with what it answered: [code, ...values]. */
  const ask = <K extends keyof FuseHandlers>(op: K, ...args: unknown[]) =>
    new Promise<unknown[]>((resolve) => (h[op] as (...a: unknown[]) => void)(...args, (...answer: unknown[]) => resolve(answer)));
  return { h, ask, session, requests };
}

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;

describe('FUSE handlers over a fake binding', () => {
  it('getattr of a missing path answers -ENOENT', async () => {
    const { ask } = setup(memoryBackend());
    expect(await ask('getattr', '/nope')).toEqual([-ERRNO.ENOENT]);
  });

  it('create, write, read and getattr answer counts and attributes', async () => {
    const { ask } = setup(memoryBackend());
    const [code, fh] = (await ask('create', '/f', 0o100640, O_WRONLY | O_CREAT)) as [number, number];
    expect(code).toBe(0);
    expect(fh).toBeGreaterThan(0);
    const data = Buffer.from('hello');
    expect(await ask('write', '/f', fh, data, data.length, 0)).toEqual([5]);
    expect(await ask('flush', '/f', fh)).toEqual([0]);
    expect(await ask('release', '/f', fh)).toEqual([0]);
    const [, st] = (await ask('getattr', '/f')) as [number, FuseStat];
    expect(st.size).toBe(5);
    expect(st.mode).toBe(0o100640);
    const [, rfh] = (await ask('open', '/f', O_RDONLY)) as [number, number];
    const buf = Buffer.alloc(16);
    expect(await ask('read', '/f', rfh, buf, 16, 0)).toEqual([5]);
    expect(buf.subarray(0, 5).toString()).toBe('hello');
    await ask('release', '/f', rfh);
  });

  it('create with O_EXCL of an existing name answers -EEXIST', async () => {
    const { ask } = setup(memoryBackend());
    const [, fh] = (await ask('create', '/f', 0o100644, O_WRONLY | O_CREAT)) as [number, number];
    await ask('release', '/f', fh);
    expect((await ask('create', '/f', 0o100644, O_WRONLY | O_CREAT | O_EXCL))[0]).toBe(-ERRNO.EEXIST);
  });

  it('what a caller creates is chowned to the caller; the setgid directory gives its group', async () => {
    const { ask, session } = setup(memoryBackend());
    expect(await ask('mkdir', '/shared', 0o2775)).toEqual([0]);
    await ask('chown', '/shared', 0, 50);
    session.who = { uid: 1000, gid: 100, pid: 2, umask: 0 };
    const [, fh] = (await ask('create', '/shared/f', 0o100644, O_WRONLY | O_CREAT)) as [number, number];
    await ask('release', '/shared/f', fh);
    const [, st] = (await ask('getattr', '/shared/f')) as [number, FuseStat];
    expect([st.uid, st.gid]).toEqual([1000, 50]);
  });

  it('readdir answers names with . and .., and stats that later getattr calls reuse', async () => {
    let stats = 0;
    const inner = memoryBackend();
    const counted = { ...inner, stat: (p: string) => (stats++, inner.stat(p)) } as Backend;
    const { ask } = setup(counted);
    for (const name of ['a', 'b']) {
      const [, fh] = (await ask('create', `/${name}`, 0o100644, O_WRONLY | O_CREAT)) as [number, number];
      await ask('release', `/${name}`, fh);
    }
    const [code, names, st] = (await ask('readdir', '/')) as [number, string[], FuseStat[]];
    expect(code).toBe(0);
    expect(names).toEqual(['.', '..', 'a', 'b']);
    expect(st).toHaveLength(4);
    const before = stats;
    expect((await ask('getattr', '/a'))[0]).toBe(0);
    expect(stats).toBe(before);
  });

  it('utimens with UTIME_OMIT keeps that time', async () => {
    const { ask } = setup(memoryBackend());
    const [, fh] = (await ask('create', '/f', 0o100644, O_WRONLY | O_CREAT)) as [number, number];
    await ask('release', '/f', fh);
    expect(await ask('utimens', '/f', 1_000_000, 2_000_000)).toEqual([0]);
    expect(await ask('utimens', '/f', OMITTED * 2, 3_000_000)).toEqual([0]);
    const [, st] = (await ask('getattr', '/f')) as [number, FuseStat];
    expect([st.atime, st.mtime]).toEqual([1_000_000, 3_000_000]);
  });

  it('chmod and utimens on a backend without them accept what it already reports and refuse the rest', async () => {
    const inner = memoryBackend();
    const { chmod: _c, utimes: _u, ...rest } = inner;
    const { ask } = setup({ ...rest, capabilities: { ...inner.capabilities, chmod: false, utimes: false } } as Backend);
    const [, fh] = (await ask('create', '/f', 0o100644, O_WRONLY | O_CREAT)) as [number, number];
    await ask('release', '/f', fh);
    const mtime = (await inner.stat('/f')).mtimeMs;
    expect(await ask('chmod', '/f', 0o100644)).toEqual([0]);
    expect(await ask('chmod', '/f', 0o100755)).toEqual([-1]);
    expect(await ask('utimens', '/f', mtime + 500, mtime + 500)).toEqual([0]);
    expect(await ask('utimens', '/f', 1_000_000, 1_000_000)).toEqual([-38]);
  });

  it('an operation the backend never answers answers -ETIMEDOUT at the sweep past its deadline', async () => {
    const hanging = defineBackend({
      name: 'hanging',
      capabilities: NO_CAPABILITIES,
      stat: () => new Promise(() => {}),
      list: () => new Promise(() => {}),
      open: () => new Promise(() => {}),
    });
    const seen: string[] = [];
    const { ask, requests } = setup(hanging, { timeoutMs: 50, onError: (code, op) => seen.push(`${op} ${code}`) });
    const answer = ask('getattr', '/x');
    requests.sweep(performance.now() + 100);
    expect(await answer).toEqual([-ERRNO.ETIMEDOUT]);
    expect(seen).toEqual(['getattr ETIMEDOUT']);
  });

  it('a handle of a stream file carries the per-open direct I/O bit', async () => {
    const { ask } = setup(memoryBackend({ streams: ['/chan'] }));
    const [, fh] = (await ask('create', '/chan/s', 0o100644, O_WRONLY | O_CREAT)) as [number, number];
    expect(fh & DIRECT_IO).toBe(DIRECT_IO);
    const [, plain] = (await ask('create', '/f', 0o100644, O_WRONLY | O_CREAT)) as [number, number];
    expect(plain & DIRECT_IO).toBe(0);
  });

  it('a local file is registered for native I/O: free without rules, prepaid and refunded with one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shylock-handlers-'));
    try {
      await writeFile(join(dir, 'f'), Buffer.alloc(1 << 20, 7));
      const free = setup(localBackend({ root: dir }));
      const [, fh] = (await free.ask('open', '/f', O_RDONLY)) as [number, number];
      expect(free.session.table.get(fh)?.credit).toEqual([-1, -1, -1, -1]);
      await free.ask('release', '/f', fh);
      expect(free.session.table.has(fh)).toBe(false);

      const policy = createPolicy([{ path: '/', readBytesPerSec: 64 << 20 }]);
      const ruled = setup(qosLayer(policy)(localBackend({ root: dir })));
      const [, rfh] = (await ruled.ask('open', '/f', O_RDONLY)) as [number, number];
      // A first chunk is prepaid at open: the first reads need no JavaScript.
      expect(ruled.session.table.get(rfh)?.credit.slice(0, 2)).toEqual([256 * 1024, 2]);
      expect(policy.stats()[0]!.read.bytes).toBe(256 * 1024);
      // The FUSE threads spend it; out of credit, a read prepays the next chunk and hands the
      // read back to the FUSE thread.
      ruled.session.table.get(rfh)!.credit.splice(0, 2, 0, 0);
      const buf = Buffer.alloc(131072);
      expect(await ruled.ask('read', '/f', rfh, buf, buf.length, 0)).toEqual([SERVE_NATIVE]);
      const [bytes, ops] = ruled.session.table.get(rfh)!.credit;
      expect(bytes).toBe(256 * 1024);
      expect(ops).toBe(2);
      expect(policy.stats()[0]!.read.bytes).toBe(512 * 1024);
      // The FUSE thread spends 128 KiB of it; the rest goes back at release.
      ruled.session.table.get(rfh)!.credit[0]! -= 131072;
      ruled.session.table.get(rfh)!.credit[1]! -= 1;
      await ruled.ask('release', '/f', rfh);
      expect(policy.stats()[0]!.read.bytes).toBe(384 * 1024);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a rule whose burst cannot prepay a chunk keeps reads in JavaScript, waiting their turn', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shylock-handlers-'));
    try {
      await writeFile(join(dir, 'f'), Buffer.alloc(1 << 20, 7));
      // 64 KiB/s with a 64 KiB burst: a 256 KiB chunk would have to borrow, and prepaying never does.
      const policy = createPolicy([{ path: '/', readBytesPerSec: 64 << 10, burst: { bytes: 64 << 10 } }]);
      const { ask, session } = setup(qosLayer(policy)(localBackend({ root: dir })));
      const [, fh] = (await ask('open', '/f', O_RDONLY)) as [number, number];
      const buf = Buffer.alloc(4096);
      expect(await ask('read', '/f', fh, buf, 4096, 0)).toEqual([4096]);
      expect(session.table.get(fh)?.credit.slice(0, 2)).toEqual([0, 0]);
      await ask('release', '/f', fh);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without native I/O nothing is registered', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shylock-handlers-'));
    try {
      await writeFile(join(dir, 'f'), 'x');
      const { ask, session } = setup(localBackend({ root: dir }), { nativeIo: false });
      const [, fh] = (await ask('open', '/f', O_RDONLY)) as [number, number];
      expect(session.table.size).toBe(0);
      await ask('release', '/f', fh);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a handler that throws synchronously still answers', async () => {
    const broken = defineBackend({
      name: 'broken',
      capabilities: NO_CAPABILITIES,
      stat: () => {
        throw new Error('boom');
      },
      list: async () => [],
      open: async () => {
        throw new Error('no');
      },
    });
    const { ask } = setup(broken);
    expect(await ask('getattr', '/x')).toEqual([-ERRNO.EIO]);
  });
});
