import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOpenFlags } from '@shylock/core';
import { mount, type Mount } from '@shylock/fuse';
import { objectBackend, type ObjectStore } from '@shylock/objects';
import { createPolicy } from '@shylock/qos';
import {
  gitTarRoundTrip,
  type KilledDuringWrite,
  killDuringWrite,
  QOS_READ_RULES,
  qosReads,
  startGcs,
  startOrSkip,
} from '@shylock/test-servers';
import { gcsStore } from '../src/index.js';

const { server: gcs, skip } = await startOrSkip(startGcs);
const BUCKET = 'mounted';
const spoolDir = await mkdtemp(join(tmpdir(), 'shylock-gcs-spool-'));
const work = await mkdtemp(join(tmpdir(), 'shylock-gcs-work-'));
afterAll(async () => {
  await gcs?.stop();
  await rm(spoolDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});
const sh = (cmd: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
// The emulator keeps its data in memory: a restart starts it empty, so the bucket is made again.
const sdk = () => new Storage({ apiEndpoint: gcs!.endpoint, projectId: 'test' });
const makeBucket = () => sdk().createBucket(BUCKET);
if (gcs) await makeBucket();

/** A store on the test server that counts the calls made of it and the bytes it was sent. */
function countedStore(options: { maxAttempts?: number } = {}) {
  const inner = gcsStore({ bucket: BUCKET, endpoint: gcs!.endpoint, projectId: 'test', ...options });
  const counts = { calls: new Map<string, number>(), bytes: 0 };
  const count = (name: string) => counts.calls.set(name, (counts.calls.get(name) ?? 0) + 1);
  const store: ObjectStore = {
    ...inner,
    list: (...a) => (count('list'), inner.list(...a)),
    head: (...a) => (count('head'), inner.head(...a)),
    read: async (...a) => {
      count('read');
      const out = await inner.read(...a);
      counts.bytes += out.length;
      return out;
    },
    stream: async (...a) => {
      count('stream');
      const source = await inner.stream!(...a);
      return {
        next: async () => {
          const r = await source.next();
          if (!r.done) counts.bytes += r.value.length;
          return r;
        },
        return: async () => source.return!(),
      };
    },
  };
  const reset = () => {
    counts.calls.clear();
    counts.bytes = 0;
  };
  return { store, counts, reset, n: (name: string) => counts.calls.get(name) ?? 0 };
}

describe.skipIf(!gcs)(`a Cloud Storage bucket mounted and used from the shell${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let mnt: string;
  let m: Mount;
  let c: ReturnType<typeof countedStore>;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'shylock-gcs-mnt-'));
    c = countedStore();
    m = await mount(objectBackend(c.store, { spoolDir }), mnt, { attrTimeout: 1 });
  });
  afterAll(async () => {
    await m?.unmount();
    await rm(mnt, { recursive: true, force: true });
  });
  const download = async (key: string) => (await sdk().bucket(BUCKET).file(key).download())[0];

  it('an object saved with the SDK reads byte for byte through the mount; a file copied in downloads with the SDK', async () => {
    const binary = Buffer.alloc(700_000);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) & 0xff;
    await sdk().bucket(BUCKET).file('cross/from-sdk.bin').save(binary);
    await rm(join(work, 'copy.bin'), { force: true });
    expect((await sh(`cp ${mnt}/cross/from-sdk.bin ${work}/copy.bin`)).code).toBe(0);
    expect((await readFile(join(work, 'copy.bin'))).equals(binary)).toBe(true);
    // 12 MiB: a resumable upload of 8 MiB chunks and a short last one.
    const big = Buffer.alloc(12 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
    await writeFile(join(work, 'big.bin'), big);
    const r = await sh(
      `cp ${work}/copy.bin ${mnt}/cross/back.bin && cp ${work}/big.bin ${mnt}/cross/big.bin && echo hi > ${mnt}/cross/hi.txt`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect((await download('cross/back.bin')).equals(binary)).toBe(true);
    expect((await download('cross/big.bin')).equals(big)).toBe(true);
    expect((await download('cross/hi.txt')).toString()).toBe('hi\n');
    await rm(join(work, 'big.bin'));
  });

  it('mkdir writes a dir/ marker other tools see; rmdir of a non-empty directory fails ENOTEMPTY; mv moves a directory', async () => {
    const r = await sh(
      `set -e; mkdir ${mnt}/tree; mkdir ${mnt}/tree/empty; echo a > ${mnt}/tree/a
       rmdir ${mnt}/tree 2>&1 || true; mv ${mnt}/tree ${mnt}/moved; ls ${mnt}/moved; ls ${mnt} | grep -c '^tree$' || true`,
    );
    expect(r.stdout).toMatch(/Directory not empty/);
    expect(r.stdout).toMatch(/a\nempty\n0\n$/);
    expect((await download('moved/empty/')).length).toBe(0);
    expect((await download('moved/a')).toString()).toBe('a\n');
  });

  it('ls -l of a directory of 5,000 objects costs the listing pages, no metadata request per object', async () => {
    const bucket = sdk().bucket(BUCKET);
    const keys = Array.from({ length: 5000 }, (_, i) => `many/f${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((k) => bucket.file(k).save(k, { resumable: false, validation: false })));
    }
    c.reset();
    const r = await sh(`ls -l ${mnt}/many | tail -n +2 | wc -l; ls -l ${mnt}/many/f04999`);
    expect(r.stdout.split('\n')[0]).toBe('5000');
    expect(r.stdout).toMatch(/ 11 .*many\/f04999\n/);
    // At most five pages of 1,000 (the emulator sends one), and per lookup of "many" itself a
    // metadata request and a one-name listing (again when its 1 s entry timeout passes).
    const heads = c.n('head');
    expect(heads).toBeGreaterThanOrEqual(1);
    expect(heads).toBeLessThanOrEqual(3);
    expect(c.n('list')).toBeLessThanOrEqual(5 + heads);
  });

  it('tail -c and dd skip= fetch about what they read, not the whole object', async () => {
    const size = 64 << 20;
    await sh(`head -c ${size} /dev/urandom > ${work}/big && cp ${work}/big ${mnt}/sparse-reads`);
    c.reset();
    const t = await sh(`tail -c 100 ${mnt}/sparse-reads | cmp - <(tail -c 100 ${work}/big) && echo same`);
    expect(t.stdout).toBe('same\n');
    expect(c.counts.bytes).toBeLessThanOrEqual(256 << 10);
    c.reset();
    const d = await sh(
      `dd if=${mnt}/sparse-reads bs=4096 skip=5000 count=2 status=none | cmp - <(dd if=${work}/big bs=4096 skip=5000 count=2 status=none) && echo same`,
    );
    expect(d.stdout).toBe('same\n');
    expect(c.counts.bytes).toBeLessThanOrEqual(256 << 10);
    await rm(join(work, 'big'));
  });

  it('a 1 GiB file copied in and out with cp keeps its sha256, with the memory of the mount bounded', async () => {
    const src = join(work, 'gig');
    expect((await sh(`head -c 1G /dev/urandom > ${src}`)).code).toBe(0);
    const sum = createHash('sha256')
      .update(await readFile(src))
      .digest('hex');
    // The emulator hashes the whole object again at every chunk it takes, so a chunk takes
    // longer the further the upload is: 64 MiB chunks keep that to 16 rounds (Cloud Storage
    // itself takes 8 MiB chunks at an even pace).
    const gmnt = await mkdtemp(join(tmpdir(), 'shylock-gcs-gig-'));
    const g = await mount(objectBackend(c.store, { spoolDir, partSize: 64 << 20, uploadConcurrency: 2 }), gmnt, { attrTimeout: 1 });
    const base = process.memoryUsage().rss;
    let peak = base;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    try {
      const copyIn = await sh(`cp ${src} ${gmnt}/gig`);
      expect(copyIn.code, copyIn.stderr).toBe(0);
      await rm(src);
      const out = await sh(`cp ${gmnt}/gig ${src} && sha256sum ${src}`);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout.split(' ')[0]).toBe(sum);
      await sh(`rm ${gmnt}/gig`);
    } finally {
      clearInterval(sample);
      await rm(src, { force: true });
      await g.unmount();
      await rm(gmnt, { recursive: true, force: true });
    }
    // Chunks of 64 MiB (one sending, one queued, one filling) and 64 MiB of read-ahead: far
    // below the file.
    expect(peak - base).toBeLessThan(320 << 20);
  }, 240_000);

  it('the server killed while a file is open: close fails EIO and the spool keeps the data', async () => {
    expect((await sh(`mkdir -p ${mnt}/faults && echo kept > ${mnt}/faults/kept`)).code).toBe(0);
    let seen: KilledDuringWrite;
    const before = new Set(await readdir(spoolDir));
    try {
      seen = await killDuringWrite(`${mnt}/faults/lost`, `${mnt}/faults/kept`, () => gcs!.kill());
    } finally {
      await gcs!.restart();
      await makeBucket();
    }
    expect(seen.close).toBe(5);
    expect([0, 5, 110]).toContain(seen.list); // a fresh listing may answer from the cache
    expect([5, 110]).toContain(seen.read);
    expect(seen.seconds).toBeLessThan(15);
    const kept = (await readdir(spoolDir)).filter((f) => !before.has(f));
    expect(kept.length).toBe(1);
    const spool = join(spoolDir, kept[0]!);
    expect(await readFile(spool, 'utf8')).toBe('never stored\n');
    // The user's retry once the server is back: copy it in again.
    await expect
      .poll(async () => (await sh(`mkdir -p ${mnt}/faults; cp ${spool} ${mnt}/faults/lost && cat ${mnt}/faults/lost`)).stdout, {
        timeout: 15_000,
        interval: 500,
      })
      .toBe('never stored\n');
    expect((await download('faults/lost')).toString()).toBe('never stored\n');
    await rm(spool);
  });

  it('git clone into the mount and back out, and tar extract into it and back out, compare equal', async () => {
    const r = await gitTarRoundTrip(mnt, work);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('equal\n');
  });

  it('QoS on a bucket path holds a read rate and an ops rate', async () => {
    const qmnt = await mkdtemp(join(tmpdir(), 'shylock-gcs-qos-'));
    const q = await mount(objectBackend(countedStore().store, { spoolDir }), qmnt, { qos: createPolicy(QOS_READ_RULES), attrTimeout: 1 });
    try {
      const r = await qosReads(mnt, qmnt);
      expect(r.blobBytes).toBe(4194304);
      // cat reads 1 MiB at a time (the files' st_blksize): the first read borrows past the
      // 128 KiB burst, each later one waits for its MiB: (4 MiB − 1 MiB − 128 KiB) / 1 MiB/s.
      expect(r.blobSeconds).toBeGreaterThan(2.875 * 0.85);
      expect(r.blobSeconds).toBeLessThan(2.875 * 1.3);
      expect(r.smallLines).toBe(30);
      // At least 30 reads at 10/s after a burst of 1: about 3 s.
      expect(r.smallSeconds).toBeGreaterThan(2.5);
      expect(r.smallSeconds).toBeLessThan(6);
    } finally {
      await q.unmount();
      await rm(qmnt, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!gcs)('the Cloud Storage backend against a real server', () => {
  const store = () => gcsStore({ bucket: BUCKET, endpoint: gcs!.endpoint, projectId: 'test', maxAttempts: 1 });

  it('a read of an object another client overwrote after open fails EIO instead of mixing generations', async () => {
    const st = store();
    const b = objectBackend(st, { spoolDir, readAhead: 0 });
    await st.put('versions/v', Buffer.alloc(4 << 20, 1));
    const h = await b.open('/versions/v', parseOpenFlags('r'));
    try {
      expect((await readAll(h, 0, 4096))[0]).toBe(1);
      await st.put('versions/v', Buffer.alloc(4 << 20, 2));
      await expect(h.read(Buffer.alloc(4096), 3 << 20)).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/changed/) });
    } finally {
      await h.close();
      await b.close();
    }
  });

  it('a file streaming up when the server dies: fsync fails EIO naming the spool, close keeps it', async () => {
    const b = objectBackend(store(), { spoolDir, partSize: 1 << 20 });
    const data = Buffer.alloc(5 << 20, 7);
    const before = new Set(await readdir(spoolDir));
    const h = await b.open('/dies.bin', parseOpenFlags('w'));
    try {
      await h.write!(data.subarray(0, 3 << 20), 0);
      await gcs!.kill();
      await h.write!(data.subarray(3 << 20), 3 << 20);
      await expect(h.sync!()).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/kept in .*shylock/) });
      await expect(h.close()).rejects.toMatchObject({ code: 'EIO' });
    } finally {
      await gcs!.restart();
      await makeBucket();
      await b.close().catch(() => {});
    }
    const kept = (await readdir(spoolDir)).filter((f) => !before.has(f));
    expect(kept.length).toBe(1);
    // The bytes the server never took are in the spool, at their offsets.
    const spool = await readFile(join(spoolDir, kept[0]!));
    expect(spool.subarray(3 << 20).equals(data.subarray(3 << 20))).toBe(true);
    await rm(join(spoolDir, kept[0]!));
  });

  it('a missing bucket and a refused port each fail with one clear line', async () => {
    const noBucket = objectBackend(gcsStore({ bucket: 'no-such-bucket', endpoint: gcs!.endpoint, projectId: 'test', maxAttempts: 1 }));
    await expect(noBucket.list('/')).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/no such bucket/) });
    const refused = objectBackend(gcsStore({ bucket: BUCKET, endpoint: 'http://127.0.0.1:1', projectId: 'test', maxAttempts: 1 }));
    await expect(refused.list('/')).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/refused.*--endpoint/) });
    for (const b of [noBucket, refused]) await b.close();
    expect(existsSync(spoolDir)).toBe(true);
  });
});

async function readAll(h: { read(b: Uint8Array, at: number): Promise<number> }, at: number, n: number) {
  const buf = Buffer.alloc(n);
  for (let done = 0; done < n; ) {
    const k = await h.read(buf.subarray(done), at + done);
    if (k === 0) break;
    done += k;
  }
  return buf;
}
