import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOpenFlags } from '@shylock/core';
import { mount, type Mount } from '@shylock/fuse';
import { objectBackend } from '@shylock/objects';
import { createPolicy } from '@shylock/qos';
import {
  gitTarRoundTrip,
  type KilledDuringWrite,
  killDuringWrite,
  QOS_READ_RULES,
  qosReads,
  startOrSkip,
  startS3,
} from '@shylock/test-servers';
import { s3Store } from '../src/index.js';

const { server: s3, skip } = await startOrSkip(startS3);
const spoolDir = await mkdtemp(join(tmpdir(), 'shylock-s3-spool-'));
const work = await mkdtemp(join(tmpdir(), 'shylock-s3-work-'));
afterAll(async () => {
  await s3?.stop();
  await rm(spoolDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});
const sh = (cmd: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

/** An S3 store on the test server that counts the requests and the body bytes the server sent. */
function countedStore() {
  const store = s3Store({
    bucket: s3!.bucket,
    endpoint: s3!.endpoint,
    region: s3!.region,
    client: { credentials: { accessKeyId: s3!.accessKeyId, secretAccessKey: s3!.secretAccessKey } },
  });
  const counts = { requests: new Map<string, number>(), bytes: 0 };
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      const name = context.commandName ?? '?';
      counts.requests.set(name, (counts.requests.get(name) ?? 0) + 1);
      const length = (out.response as { headers?: Record<string, string> }).headers?.['content-length'];
      if (name === 'GetObjectCommand' && length) counts.bytes += Number(length);
      return out;
    },
    { step: 'deserialize', name: 'shylockCount' },
  );
  const reset = () => {
    counts.requests.clear();
    counts.bytes = 0;
  };
  return { store, counts, reset, n: (name: string) => counts.requests.get(name) ?? 0 };
}

describe.skipIf(!s3)(`an S3 bucket mounted and used from the shell${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let mnt: string;
  let m: Mount;
  let c: ReturnType<typeof countedStore>;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'shylock-s3-mnt-'));
    c = countedStore();
    m = await mount(objectBackend(c.store, { spoolDir }), mnt, { attrTimeout: 1 });
  });
  afterAll(async () => {
    await m?.unmount();
    await rm(mnt, { recursive: true, force: true });
  });
  const sdk = () => c.store.client;
  const getObject = async (key: string) => {
    const out = await sdk().send(new GetObjectCommand({ Bucket: s3!.bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  };

  it('an object put with the SDK reads byte for byte through the mount; a file copied in reads back with the SDK', async () => {
    const binary = Buffer.alloc(300_000);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) & 0xff;
    await sdk().send(new PutObjectCommand({ Bucket: s3!.bucket, Key: 'cross/from-sdk.bin', Body: binary }));
    await rm(join(work, 'copy.bin'), { force: true });
    expect((await sh(`cp ${mnt}/cross/from-sdk.bin ${work}/copy.bin`)).code).toBe(0);
    expect((await readFile(join(work, 'copy.bin'))).equals(binary)).toBe(true);
    expect((await sh(`cp ${work}/copy.bin ${mnt}/cross/back.bin && echo hi > ${mnt}/cross/hi.txt`)).code).toBe(0);
    expect((await getObject('cross/back.bin')).equals(binary)).toBe(true);
    expect((await getObject('cross/hi.txt')).toString()).toBe('hi\n');
  });

  it('mkdir writes a dir/ marker other tools see; rmdir of a non-empty directory fails ENOTEMPTY; mv moves a directory', async () => {
    const r = await sh(
      `set -e; mkdir ${mnt}/tree; mkdir ${mnt}/tree/empty; echo a > ${mnt}/tree/a
       rmdir ${mnt}/tree 2>&1 || true; mv ${mnt}/tree ${mnt}/moved; ls ${mnt}/moved; ls ${mnt} | grep -c '^tree$' || true`,
    );
    expect(r.stdout).toMatch(/Directory not empty/);
    expect(r.stdout).toMatch(/a\nempty\n0\n$/);
    expect((await getObject('moved/empty/')).length).toBe(0);
    expect((await getObject('moved/a')).toString()).toBe('a\n');
  });

  it('ls -l of a directory of 5,000 objects costs the LIST pages, no HEAD per object', async () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `many/f${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((Key) => sdk().send(new PutObjectCommand({ Bucket: s3!.bucket, Key, Body: Key }))));
    }
    c.reset();
    const r = await sh(`ls -l ${mnt}/many | tail -n +2 | wc -l; ls -l ${mnt}/many/f04999`);
    expect(r.stdout.split('\n')[0]).toBe('5000');
    expect(r.stdout).toMatch(/ 11 .*many\/f04999\n/);
    // Five pages of 1,000, and per lookup of "many" itself a HEAD and a one-key LIST (the kernel
    // looks it up again when its 1 s entry timeout passes during a slow listing).
    const heads = c.n('HeadObjectCommand');
    expect(heads).toBeGreaterThanOrEqual(1);
    expect(heads).toBeLessThanOrEqual(3);
    expect(c.n('ListObjectsV2Command')).toBeLessThanOrEqual(5 + heads);
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
    const base = process.memoryUsage().rss;
    let peak = base;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    try {
      const copyIn = await sh(`cp ${src} ${mnt}/gig`);
      expect(copyIn.code, copyIn.stderr).toBe(0);
      await rm(src);
      const out = await sh(`cp ${mnt}/gig ${src} && sha256sum ${src}`);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout.split(' ')[0]).toBe(sum);
    } finally {
      clearInterval(sample);
      await rm(src, { force: true });
    }
    // Parts of 8 MiB, 4 at once, and 64 MiB of read-ahead: far below the file.
    expect(peak - base).toBeLessThan(256 << 20);
    await sh(`rm ${mnt}/gig`);
  }, 240_000);

  it('the server killed while a file is open: close fails EIO, the spool keeps the data, and after restart it can be stored', async () => {
    expect((await sh(`mkdir -p ${mnt}/faults && echo kept > ${mnt}/faults/kept`)).code).toBe(0);
    let seen: KilledDuringWrite;
    const before = new Set(await readdir(spoolDir));
    try {
      seen = await killDuringWrite(`${mnt}/faults/lost`, `${mnt}/faults/kept`, () => s3!.kill());
    } finally {
      await s3!.restart();
    }
    expect(seen.close).toBe(5);
    expect([0, 5, 110]).toContain(seen.list); // a fresh listing may answer from the cache
    expect([5, 110]).toContain(seen.read);
    expect(seen.seconds).toBeLessThan(15);
    const kept = (await readdir(spoolDir)).filter((f) => !before.has(f));
    expect(kept.length).toBe(1);
    const spool = join(spoolDir, kept[0]!);
    expect(await readFile(spool, 'utf8')).toBe('never stored\n');
    // The first request after the restart may still meet a connection to the old process: the
    // user's retry is to copy it again.
    await expect
      .poll(async () => (await sh(`cp ${spool} ${mnt}/faults/lost && cat ${mnt}/faults/lost`)).stdout, { timeout: 15_000, interval: 500 })
      .toBe('never stored\n');
    expect((await getObject('faults/lost')).toString()).toBe('never stored\n');
    await rm(spool);
  });

  it('git clone into the mount and back out, and tar extract into it and back out, compare equal', async () => {
    const r = await gitTarRoundTrip(mnt, work);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('equal\n');
  });

  it('QoS on a bucket path holds a read rate and an ops rate', async () => {
    const qmnt = await mkdtemp(join(tmpdir(), 'shylock-s3-qos-'));
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

describe.skipIf(!s3)('the S3 backend against a real server', () => {
  const store = () =>
    s3Store({
      bucket: s3!.bucket,
      endpoint: s3!.endpoint,
      region: s3!.region,
      client: { credentials: { accessKeyId: s3!.accessKeyId, secretAccessKey: s3!.secretAccessKey } },
      maxAttempts: 1,
    });

  it('a file streaming up when the server dies: fsync fails EIO, and after restart fsync stores every byte', async () => {
    const b = objectBackend(store(), { spoolDir, partSize: 5 << 20 });
    const data = Buffer.alloc(18 << 20);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
    const h = await b.open('/retry.bin', parseOpenFlags('w'));
    try {
      await h.write!(data.subarray(0, 11 << 20), 0);
      await s3!.kill();
      try {
        await h.write!(data.subarray(11 << 20), 11 << 20);
        await expect(h.sync!()).rejects.toMatchObject({ code: 'EIO' });
      } finally {
        await s3!.restart();
      }
      await h.sync!();
    } finally {
      await h.close();
    }
    const r = await b.open('/retry.bin', parseOpenFlags('r'));
    const back = Buffer.alloc(data.length);
    for (let at = 0; at < data.length; ) at += await r.read(back.subarray(at), at);
    await r.close();
    expect(back.equals(data)).toBe(true);
    await b.close();
  });

  it('a read of an object another client overwrote after open fails EIO instead of mixing versions', async () => {
    const st = store();
    const b = objectBackend(st, { spoolDir, readAhead: 0 });
    await st.put('versions/v', Buffer.alloc(4 << 20, 1));
    const h = await b.open('/versions/v', parseOpenFlags('r'));
    try {
      await h.read(Buffer.alloc(4096), 0);
      await st.put('versions/v', Buffer.alloc(4 << 20, 2));
      await expect(h.read(Buffer.alloc(4096), 3 << 20)).rejects.toMatchObject({ code: 'EIO' });
    } finally {
      await h.close();
      await b.close();
    }
  });

  it('a missing bucket, bad credentials and a refused port each fail with one clear line', async () => {
    const base = { endpoint: s3!.endpoint, region: s3!.region, maxAttempts: 1 };
    const creds = { credentials: { accessKeyId: s3!.accessKeyId, secretAccessKey: s3!.secretAccessKey } };
    const noBucket = objectBackend(s3Store({ ...base, bucket: 'no-such-bucket', client: creds }));
    await expect(noBucket.list('/')).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/no such bucket/) });
    const badCreds = objectBackend(
      s3Store({ ...base, bucket: s3!.bucket, client: { credentials: { accessKeyId: 'x', secretAccessKey: 'y' } } }),
    );
    await expect(badCreds.list('/')).rejects.toMatchObject({ code: 'EACCES', message: expect.stringMatching(/credentials/) });
    const refused = objectBackend(s3Store({ ...base, endpoint: 'http://127.0.0.1:1', bucket: s3!.bucket, client: creds }));
    await expect(refused.list('/')).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/refused.*--endpoint/) });
    for (const b of [noBucket, badCreds, refused]) await b.close();
    expect(existsSync(spoolDir)).toBe(true);
  });
});
