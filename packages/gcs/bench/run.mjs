// Cloud Storage through a mount vs the client directly, against one fake-gcs-server.
//
// A 1 GiB object (GCS_BENCH_MIB) is read with `dd` through the mount and with the client's
// createReadStream; written with `cp` through the mount and with createWriteStream (one request),
// bucket.upload, and createWriteStream in chunks of the mount's size (resumable the same way);
// 5,000 objects are listed with `ls -l` and with the list calls alone. gcsfuse goes beside
// shylock when it could be built (`go install`, GOTOOLCHAIN=go1.27.3). Rounds interleave the
// tools; each ratio is taken within its round.
//
// The emulator hashes the whole object again at every chunk of a resumable upload, so uploads
// in many chunks slow down as they grow there (Cloud Storage does not): shylock mounts with
// 64 MiB chunks here, and the chunked client upload shows what that costs the client too.
import { execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { mount } from '@shylock/fuse';
import { gcsBackend } from '@shylock/gcs';
import { daemonMount, dropCaches, format as f, goTool, Rounds, seconds, startGcs } from '@shylock/test-servers';

const run = promisify(execFile);
const MIB = 1 << 20;
const SIZE = Number(process.env.GCS_BENCH_MIB ?? 1024) * MIB;
const ROUNDS = Number(process.env.GCS_BENCH_ROUNDS ?? 3);
const FILES = 5000;
const CHUNK = 64 * MIB;
const GCSFUSE_VERSION = 'v3.13.0';

const gcs = await startGcs();
const storage = new Storage({ apiEndpoint: gcs.endpoint, projectId: 'bench' });
const BUCKET = 'bench';
await storage.createBucket(BUCKET);
const bucket = storage.bucket(BUCKET);
const scratch = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-gcs-bench-'));
const source = join(scratch, 'source.bin');

/** gcsfuse, built once into the cache; undefined (and said why) when it can't be. */
async function gcsfuse() {
  try {
    // gcsfuse's go.mod asks for a newer Go than Debian's: the proxy serves that toolchain.
    return await goTool('gcsfuse', GCSFUSE_VERSION, `github.com/googlecloudplatform/gcsfuse/v3@${GCSFUSE_VERSION}`, {
      GOTOOLCHAIN: 'go1.27.3',
    });
  } catch (e) {
    console.log(`gcsfuse left out: ${e.message.split('\n')[0]}`);
    return undefined;
  }
}
const gcsfuseBin = process.env.GCS_BENCH_NO_GCSFUSE ? undefined : await gcsfuse();

/** The FUSE file systems, each mounting the bucket at `dir`; each returns its unmount. */
const TOOLS = {
  shylock: async (dir) => {
    const m = await mount(
      gcsBackend({ bucket: BUCKET, endpoint: gcs.endpoint, projectId: 'bench', partSize: CHUNK, uploadConcurrency: 2 }),
      dir,
      // As `shylock gcs` mounts it: a listing answers lookups for the backend's cache TTL (10 s).
      { attrTimeout: 1, listingCacheMs: 10_000 },
    );
    return () => m.unmount();
  },
  ...(gcsfuseBin && {
    gcsfuse: (dir) => {
      const child = spawn(
        gcsfuseBin,
        [
          '--foreground',
          '--anonymous-access',
          `--custom-endpoint=${gcs.endpoint}/storage/v1/`,
          '--implicit-dirs',
          `--temp-dir=${scratch}`,
          BUCKET,
          dir,
        ],
        { stdio: 'ignore' },
      );
      return daemonMount(dir, child, 'gcsfuse');
    },
  }),
};

const r = new Rounds();
try {
  await run('bash', ['-c', `head -c ${SIZE} /dev/urandom > ${source}`]);
  await bucket.upload(source, { destination: 'bench/read.bin', resumable: false });
  for (let i = 0; i < FILES; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, FILES - i) }, (_, j) =>
        bucket.file(`bench/many/f${String(i + j).padStart(5, '0')}`).save('x', { resumable: false }),
      ),
    );
  }

  for (let round = 0; round < ROUNDS; round++) {
    // ---- the client directly ----
    const list = r.add(
      'list',
      await seconds(async () => {
        let query = { prefix: 'bench/many/', delimiter: '/', autoPaginate: false };
        let n = 0;
        while (query) {
          const [files, next] = await bucket.getFiles(query);
          n += files.length;
          query = next;
        }
        if (n !== FILES) throw new Error(`listed ${n} of ${FILES}`);
      }),
    );
    const get = r.add(
      'get',
      SIZE /
        MIB /
        (await seconds(async () => {
          let n = 0;
          for await (const chunk of bucket.file('bench/read.bin').createReadStream()) n += chunk.length;
          if (n !== SIZE) throw new Error(`read ${n} of ${SIZE}`);
        })),
    );
    const write = (name, options) =>
      seconds(() => pipeline(createReadStream(source), bucket.file(`bench/${name}`).createWriteStream(options)));
    const stream = r.add('stream', SIZE / MIB / (await write('written-stream', {})));
    r.add('upload', SIZE / MIB / (await seconds(() => bucket.upload(source, { destination: 'bench/written-upload' }))));
    r.add('chunked', SIZE / MIB / (await write('written-chunked', { chunkSize: CHUNK })));
    r.add('chunked of stream', r.all('chunked').at(-1) / stream);
    await Promise.all(['stream', 'upload', 'chunked'].map((n) => bucket.file(`bench/written-${n}`).delete()));

    // ---- through each mount, the order of the tools turning each round ----
    const names = Object.keys(TOOLS);
    for (const name of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
      const dir = await mkdtemp(join(tmpdir(), `shylock-gcs-bench-${name}-`));
      const unmount = await TOOLS[name](dir);
      try {
        // The programs `ls -l` runs and the tool's own client warmed first, as the client timed
        // alone is: one `ls -l` of the mount's root (which lists only bench/). No drop of the
        // caches before it: that would time reading /usr/bin/ls from disk, not the listing.
        await run('bash', ['-c', `ls -l ${dir} | tail -n +2 | wc -l`]);
        const ls = await seconds(async () => {
          const { stdout } = await run('bash', ['-c', `ls -l ${dir}/bench/many | tail -n +2 | wc -l`]);
          if (Number(stdout) !== FILES) throw new Error(`${name}: ls -l showed ${stdout.trim()} of ${FILES}`);
        });
        r.add(`${name} ls`, ls / list);
        await dropCaches();
        const read = SIZE / MIB / (await seconds(() => run('dd', [`if=${dir}/bench/read.bin`, 'of=/dev/null', 'bs=1M', 'status=none'])));
        r.add(`${name} read`, read / get);
        const written = SIZE / MIB / (await seconds(() => run('cp', [source, `${dir}/bench/written-${name}`])));
        r.add(`${name} write MiB/s`, written);
        r.add(`${name} write`, written / stream);
      } finally {
        await unmount();
        await rm(dir, { recursive: true, force: true });
      }
      await bucket.file(`bench/written-${name}`).delete({ ignoreNotFound: true });
    }
  }

  const size = SIZE >= 1 << 30 ? `${SIZE / (1 << 30)} GiB` : `${SIZE / MIB} MiB`;
  const names = Object.keys(TOOLS);
  const cell = (name, row) => `**${f(r.median(`${name} ${row}`), 2)}×** (${r.range(`${name} ${row}`)})`;
  console.log(`\n### Cloud Storage through a mount vs the client directly, one fake-gcs-server (median of ${ROUNDS} interleaved rounds)\n`);
  console.log(`| work | client directly | ${names.join(' | ')} |`);
  console.log(`|---|---|${names.map(() => '---|').join('')}`);
  console.log(
    `| read a ${size} object (dd bs=1M vs createReadStream) | ${f(r.median('get'))} MiB/s | ${names.map((n) => cell(n, 'read')).join(' | ')} |`,
  );
  console.log(
    `| write it (cp vs createWriteStream, one request) | ${f(r.median('stream'))} MiB/s | ${names.map((n) => cell(n, 'write')).join(' | ')} |`,
  );
  console.log(
    `| ls -l of ${f(FILES)} objects (time, vs the list calls alone) | ${f(r.median('list') * 1000)} ms | ${names.map((n) => cell(n, 'ls')).join(' | ')} |`,
  );
  console.log(
    `\nThe client's other uploads: bucket.upload ${f(r.median('upload'))} MiB/s; createWriteStream in ${CHUNK / MIB} MiB chunks ` +
      `(resumable chunk by chunk, as the mount uploads) ${f(r.median('chunked'))} MiB/s, ${f(r.median('chunked of stream'), 2)}× of one request: ` +
      `the ceiling of a chunked upload on this emulator. shylock wrote ${f(r.median('shylock write MiB/s'))} MiB/s. ` +
      `Targets: read and write ≥ 0.9× of the client, ls -l ≤ 1.3× of the list calls.`,
  );
} finally {
  await gcs.stop();
  await rm(scratch, { recursive: true, force: true });
}
