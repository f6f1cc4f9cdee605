import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOpenFlags, ShylockError, type Backend } from '@shylock/core';
import { describeBackend } from '@shylock/conformance';
import { memoryObjectStore, objectBackend, type ObjectStore } from '../src/index.js';

const spoolDir = await mkdtemp(join(tmpdir(), 'shylock-objects-test-'));
afterAll(() => rm(spoolDir, { recursive: true, force: true }));

// Small parts, so that multipart uploads, read-ahead and spools are exercised by small files.
const KiB = 1024;
const small = () => memoryObjectStore({ limits: { minPartSize: 4 * KiB } });
const backendOn = (store: ObjectStore, extra = {}) => objectBackend(store, { partSize: 4 * KiB, spoolDir, ...extra });

describeBackend('objects (memory store)', () => backendOn(small()));
describeBackend('objects (memory store, prefix, no cache)', () => backendOn(small(), { prefix: 'a/b', cacheTtlMs: 0 }));

const bytes = (n: number, seed = 1) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};
async function put(b: Backend, path: string, data: Uint8Array, chunk = 1000) {
  const h = await b.open(path, parseOpenFlags('w'));
  try {
    for (let at = 0; at < data.length; at += chunk) await h.write!(data.subarray(at, at + chunk), at);
  } finally {
    await h.close();
  }
}
async function get(b: Backend, path: string): Promise<Buffer> {
  const h = await b.open(path, parseOpenFlags('r'));
  const out: Buffer[] = [];
  try {
    for (let at = 0; ; ) {
      const buf = Buffer.alloc(3000);
      const n = await h.read(buf, at);
      if (n === 0) break;
      out.push(buf.subarray(0, n));
      at += n;
    }
  } finally {
    await h.close();
  }
  return Buffer.concat(out);
}

/** A store whose requests fail while `down` is set, counting what it is asked. */
function flaky(inner: ObjectStore) {
  const state = { down: false, parts: 0, puts: 0, bytesRead: 0, lists: 0, heads: 0 };
  const gate = () => {
    if (state.down) throw new ShylockError('EIO', 'the store is unreachable', { retryable: true });
  };
  const store: ObjectStore = {
    ...inner,
    list: async (...a) => (gate(), state.lists++, inner.list(...a)),
    head: async (...a) => (gate(), state.heads++, inner.head(...a)),
    read: async (k, s, e, o) => {
      gate();
      state.bytesRead += e - s;
      return inner.read(k, s, e, o);
    },
    stream: async (k, s, e, o) => {
      gate();
      const source = await inner.stream!(k, s, e, o);
      return {
        next: async () => {
          const r = await source.next();
          if (!r.done) state.bytesRead += r.value.length;
          return r;
        },
        return: async () => source.return!(),
      };
    },
    put: async (...a) => (gate(), state.puts++, inner.put(...a)),
    startUpload: async (...a) => (gate(), inner.startUpload(...a)),
    uploadPart: async (...a) => (gate(), state.parts++, inner.uploadPart(...a)),
    completeUpload: async (...a) => (gate(), inner.completeUpload(...a)),
    abortUpload: async (...a) => (gate(), inner.abortUpload(...a)),
    copy: async (...a) => (gate(), inner.copy(...a)),
    delete: async (...a) => (gate(), inner.delete(...a)),
  };
  return { store, state };
}

describe('objectBackend', () => {
  it('write of a file in order streams it as parts and stores it byte for byte', async () => {
    const mem = small();
    const { store, state } = flaky(mem);
    const b = backendOn(store);
    const data = bytes(50 * KiB);
    await put(b, '/big.bin', data);
    expect(state.parts).toBe(13); // 12 whole parts of 4 KiB and the rest
    expect(state.puts).toBe(0);
    expect(mem.uploads.size).toBe(0);
    expect(Buffer.from(mem.objects.get('big.bin')!.data).equals(data)).toBe(true);
    expect(await get(b, '/big.bin')).toEqual(data);
  });

  it('files streamed up side by side, parts in flight out of order, each store their own bytes', async () => {
    // Part buffers are reused once a part is stored: none may be handed out while still sent.
    const mem = small();
    const slow: ObjectStore = {
      ...mem,
      uploadPart: async (k, id, n, body) => {
        await new Promise((r) => setTimeout(r, (n * 7) % 5));
        return mem.uploadPart(k, id, n, body);
      },
    };
    const b = backendOn(slow, { uploadConcurrency: 3 });
    const files = Array.from({ length: 6 }, (_, i) => bytes(41 * KiB + i * 999, i + 2));
    await Promise.all(files.map((data, i) => put(b, `/side-${i}.bin`, data, 1500)));
    for (const [i, data] of files.entries()) expect(Buffer.from(mem.objects.get(`side-${i}.bin`)!.data).equals(data)).toBe(true);
  });

  it('write of a file smaller than a part is one PUT', async () => {
    const { store, state } = flaky(small());
    const b = backendOn(store);
    await put(b, '/s.txt', Buffer.from('small'));
    expect([state.puts, state.parts]).toEqual([1, 0]);
  });

  it('write behind what was sent moves the file to a spool and stores every byte', async () => {
    const mem = small();
    const b = backendOn(mem);
    const data = bytes(20 * KiB);
    const h = await b.open('/r.bin', parseOpenFlags('w+'));
    try {
      await h.write!(data, 0);
      await h.write!(Buffer.from('XYZ'), 10);
      const back = Buffer.alloc(5);
      await h.read(back, 9);
      expect(back.toString('latin1')).toBe(`${data.subarray(9, 10).toString('latin1')}XYZ${data.subarray(13, 14).toString('latin1')}`);
    } finally {
      await h.close();
    }
    const expected = Buffer.from(data);
    expected.write('XYZ', 10);
    expect(await get(b, '/r.bin')).toEqual(expected);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('append to an existing object keeps what it held', async () => {
    const b = backendOn(small());
    const first = bytes(9 * KiB);
    await put(b, '/log', first);
    const h = await b.open('/log', parseOpenFlags('a'));
    try {
      await h.write!(Buffer.from('tail'), null);
    } finally {
      await h.close();
    }
    expect(await get(b, '/log')).toEqual(Buffer.concat([first, Buffer.from('tail')]));
  });

  it('a failed upload fails flush and close with EIO, keeps the data in a spool named in the error, and a retry stores it', async () => {
    const mem = small();
    const { store, state } = flaky(mem);
    const b = backendOn(store);
    const data = bytes(3 * KiB);
    const h = await b.open('/kept.txt', parseOpenFlags('w'));
    await h.write!(data, 0);
    state.down = true;
    const e = await h.flush!().then(
      () => undefined,
      (x: ShylockError) => x,
    );
    expect(e?.code).toBe('EIO');
    const spool = /kept in (\S+?)(?:;|\.?$|\.\s| \()/.exec(e!.message)?.[1];
    expect(spool && existsSync(spool)).toBe(true);
    expect(await readFile(spool!)).toEqual(data);
    state.down = false;
    await h.flush!();
    await h.close();
    expect(Buffer.from(mem.objects.get('kept.txt')!.data)).toEqual(data);
    expect(existsSync(spool!)).toBe(false);
  });

  it('a part that fails mid-stream goes to the spool; the retry sends only what the store lacks', async () => {
    const mem = small();
    const { store, state } = flaky(mem);
    const b = backendOn(store, { uploadConcurrency: 1 });
    const data = bytes(30 * KiB);
    const h = await b.open('/stream.bin', parseOpenFlags('w'));
    await h.write!(data.subarray(0, 10 * KiB), 0);
    state.down = true;
    // Writes go on into the spool while the store is away.
    await h.write!(data.subarray(10 * KiB), 10 * KiB);
    await expect(h.flush!()).rejects.toMatchObject({ code: 'EIO' });
    state.down = false;
    const before = state.parts;
    await h.close();
    expect(state.parts - before).toBe(6); // parts 3..8 of 4 KiB (parts 1 and 2 were stored)
    expect(Buffer.from(mem.objects.get('stream.bin')!.data)).toEqual(data);
    expect(mem.uploads.size).toBe(0);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('close that cannot store keeps the spool and drops the upload', async () => {
    const mem = small();
    const { store, state } = flaky(mem);
    const b = backendOn(store);
    const data = bytes(2 * KiB);
    const h = await b.open('/lost.txt', parseOpenFlags('w'));
    await h.write!(data, 0);
    state.down = true;
    const e = await h.close().then(
      () => undefined,
      (x: ShylockError) => x,
    );
    expect(e?.code).toBe('EIO');
    const spool = /kept in (\S+?)(?:;|\.?$|\.\s| \()/.exec(e!.message)?.[1];
    expect(await readFile(spool!)).toEqual(data);
    expect(mem.objects.has('lost.txt')).toBe(false);
    await rm(spool!);
  });

  it('read of a large object in order reads ahead; a read at the end fetches about the tail only', async () => {
    const mem = small();
    const { store, state } = flaky(mem);
    const b = backendOn(store, { readAhead: 1 << 20 });
    const data = bytes(8 << 20);
    await mem.put('big', data);
    expect((await get(b, '/big')).equals(data)).toBe(true);
    expect(state.bytesRead).toBe(data.length);
    state.bytesRead = 0;
    const h = await b.open('/big', parseOpenFlags('r'));
    const tail = Buffer.alloc(100);
    expect(await h.read(tail, data.length - 100)).toBe(100);
    await h.close();
    expect(tail).toEqual(data.subarray(-100));
    expect(state.bytesRead).toBe(100);
  });

  it('reads in flight together — out of order, with jumps elsewhere among them — each get their own bytes', async () => {
    const mem = small();
    // Chunks that arrive a turn of the event loop apart, as a network's do.
    const later = () => new Promise((r) => setImmediate(r));
    const b = backendOn(
      {
        ...mem,
        stream: async (...a) => {
          const source = await mem.stream!(...a);
          return { next: async () => (await later(), source.next()), return: async () => source.return!() };
        },
        read: async (...a) => (await later(), mem.read(...a)),
      },
      // A window smaller than a wave of reads: some of them wait on the stream.
      { readAhead: 256 * KiB },
    );
    const data = bytes(24 << 20, 7);
    await mem.put('c', data);
    const h = await b.open('/c', parseOpenFlags('r'));
    const piece = 128 * KiB;
    let seed = 1;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    try {
      // Two reads in order start the read-ahead stream; then the waves.
      for (const p of [0, piece]) {
        const buf = Buffer.alloc(piece);
        await h.read(buf, p);
        expect(buf.equals(data.subarray(p, p + piece))).toBe(true);
      }
      for (let wave = 0, at = 2 * piece; at + 4 * piece <= 6 << 20; wave++, at += 4 * piece) {
        const positions = [0, 1, 2, 3].map((i) => at + i * piece).sort(() => random() - 0.5);
        // Every third wave also reads somewhere far away, ending the stream under the others.
        if (wave % 3 === 2) positions.splice(2, 0, (16 << 20) + Math.floor(random() * (6 << 20)));
        const got = await Promise.all(
          positions.map(async (p) => {
            const buf = Buffer.alloc(piece);
            const n = await h.read(buf, p);
            return buf.subarray(0, n);
          }),
        );
        positions.forEach((p, i) => expect(got[i]!.equals(data.subarray(p, p + piece)), `read at ${p}`).toBe(true));
      }
    } finally {
      await h.close();
    }
  });

  it('a read sent while the read-ahead stream is opening joins it: one stream, no range fetched twice', async () => {
    const mem = small();
    let streams = 0;
    let ranges = 0;
    // The stream takes a turn of the event loop to open, as a request does.
    const later = () => new Promise((r) => setImmediate(r));
    const b = backendOn(
      {
        ...mem,
        stream: async (...a) => (streams++, await later(), mem.stream!(...a)),
        read: async (...a) => (ranges++, mem.read(...a)),
      },
      { readAhead: 1 << 20 },
    );
    const data = bytes(4 << 20, 3);
    await mem.put('s', data);
    const h = await b.open('/s', parseOpenFlags('r'));
    const piece = 128 * KiB;
    try {
      const first = Buffer.alloc(piece);
      await h.read(first, 0);
      // The second read in order opens the stream; the kernel has sent the third meanwhile.
      const [second, third] = [Buffer.alloc(piece), Buffer.alloc(piece)];
      await Promise.all([h.read(second, piece), h.read(third, 2 * piece)]);
      expect(Buffer.concat([first, second, third]).equals(data.subarray(0, 3 * piece))).toBe(true);
      expect(streams).toBe(1);
      expect(ranges).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('a read of an object changed by another client after open fails EIO rather than mixing versions', async () => {
    const mem = small();
    const b = backendOn(mem);
    await mem.put('v', bytes(3 << 20, 1));
    const h = await b.open('/v', parseOpenFlags('r'));
    try {
      await h.read(Buffer.alloc(1000), 0);
      await mem.put('v', bytes(3 << 20, 2));
      await expect(h.read(Buffer.alloc(1000), 2 << 20)).rejects.toMatchObject({ code: 'EIO' });
    } finally {
      await h.close();
    }
  });

  it('stat after a listing costs no request; ls of 2,500 keys pages through the LIST', async () => {
    const mem = small();
    const { store, state } = flaky(mem);
    const b = backendOn(store);
    for (let i = 0; i < 2500; i++) await mem.put(`many/f${i}`, Buffer.from(String(i)));
    const entries = await b.list('/many');
    expect(entries.length).toBe(2500);
    expect(state.lists).toBe(3);
    const before = { ...state };
    for (const e of entries.slice(0, 100)) expect((await b.stat(`/many/${e.name}`)).type).toBe('file');
    expect([state.lists, state.heads]).toEqual([before.lists, before.heads]);
    // A name the listing lacks is asked for: another client may have just made it.
    await mem.put('many/late', Buffer.from('new'));
    expect((await b.stat('/many/late')).size).toBe(3);
  });

  it('a directory emptied by unlink stays, as in a file system', async () => {
    const mem = small();
    const b = backendOn(mem);
    await b.mkdir!('/d');
    await put(b, '/d/x', Buffer.from('x'));
    await mem.delete(['d/']);
    await b.unlink!('/d/x');
    expect((await b.stat('/d')).type).toBe('directory');
    expect(await b.list('/d')).toEqual([]);
  });

  it('a tree made by other tools (no markers, keys only) lists as directories', async () => {
    const mem = small();
    const b = backendOn(mem);
    await mem.put('x/y/z.txt', Buffer.from('z'));
    await mem.put('x/top.txt', Buffer.from('t'));
    await mem.put('x/bad//name', Buffer.from('?'));
    expect((await b.list('/x')).map((e) => `${e.name}:${e.type}`).sort()).toEqual(['bad:directory', 'top.txt:file', 'y:directory']);
    expect((await b.stat('/x/y')).type).toBe('directory');
    expect(await b.list('/x/bad')).toEqual([]);
  });

  it('a new file shows in stat and listings while it is being written', async () => {
    const b = backendOn(small());
    const h = await b.open('/w.txt', parseOpenFlags('w'));
    try {
      await h.write!(Buffer.from('12345'), 0);
      expect((await b.stat('/w.txt')).size).toBe(5);
      expect((await b.list('/')).map((e) => e.name)).toContain('w.txt');
    } finally {
      await h.close();
    }
  });

  it('close of the backend stores the files still open for writing first', async () => {
    const mem = small();
    const b = backendOn(mem);
    const h = await b.open('/left-open.txt', parseOpenFlags('w'));
    await h.write!(Buffer.from('kept'), 0);
    await b.close();
    expect(Buffer.from(mem.objects.get('left-open.txt')!.data).toString()).toBe('kept');
  });

  it('rejects a part size below the store minimum, or not a multiple the store needs, with EINVAL', () => {
    expect(() => objectBackend(small(), { partSize: 1000 })).toThrow(/partSize must be between/);
    const sized = memoryObjectStore({ limits: { minPartSize: 4 * KiB, partMultiple: 4 * KiB } });
    expect(() => objectBackend(sized, { partSize: 6 * KiB })).toThrow(/a multiple of 4096/);
    expect(() => objectBackend(sized, { partSize: 8 * KiB })).not.toThrow();
  });

  it('a write past what the store allows in parts fails EFBIG naming --part-size, before anything is sent', async () => {
    const few = memoryObjectStore({ limits: { minPartSize: 4 * KiB, maxParts: 3 } });
    const b = backendOn(few);
    const h = await b.open('/too-big', parseOpenFlags('w'));
    await h.write!(bytes(12 * KiB), 0);
    await expect(h.write!(bytes(1), 12 * KiB)).rejects.toMatchObject({ code: 'EFBIG', message: /3 parts .*--part-size/ });
    await h.close();
    expect(few.objects.get('too-big')!.data.length).toBe(12 * KiB);
  });
});
