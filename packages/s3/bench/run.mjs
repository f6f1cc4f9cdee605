// @shylock/s3 benchmark, side by side in one run against one real S3 server (versitygw) started
// here: reading a 1 GiB object, writing it with cp, and `ls -l` of 5,000 objects, through a
// shylock mount, through rclone mount and through s3fs, each against the AWS SDK doing the same
// work directly (GetObject streamed, lib-storage Upload, the LIST calls alone). Rounds
// interleave the tools; every figure is the median of the rounds, every ratio taken within one.
//
//   S3_BENCH_MIB=1024 S3_BENCH_ROUNDS=3 node bench/run.mjs
import { execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { mount } from '@shylock/fuse';
import { daemonMount, dropCaches, ensureDebian, format as f, Rounds, seconds, startPassthrough, startS3 } from '@shylock/test-servers';
import { s3Backend } from '@shylock/s3';

const run = promisify(execFile);
const MIB = 1 << 20;
const SIZE = Number(process.env.S3_BENCH_MIB ?? 1024) * MIB;
const ROUNDS = Number(process.env.S3_BENCH_ROUNDS ?? 3);
const FILES = 5000;
const PART = 8 * MIB;

await ensureDebian(['rclone', 's3fs']);
// The SDK's notice that it will drop Node 20 next year is noise in a benchmark's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const s3 = await startS3();
const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
const client = new S3Client({
  endpoint: s3.endpoint,
  region: s3.region,
  forcePathStyle: true,
  credentials,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const Bucket = s3.bucket;
const scratch = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-s3-bench-'));
const source = join(scratch, 'source.bin');
const passwd = join(scratch, 'passwd');
/** The three FUSE file systems, each mounting the bucket at `dir`; each returns its unmount. */
const TOOLS = {
  shylock: async (dir) => {
    const m = await mount(s3Backend({ bucket: Bucket, endpoint: s3.endpoint, region: s3.region, client: { credentials } }), dir, {
      // As `shylock s3` mounts it: a listing answers lookups for the backend's cache TTL (10 s).
      attrTimeout: 1,
      listingCacheMs: 10_000,
    });
    return () => m.unmount();
  },
  rclone: (dir) => {
    // rclone's defaults (no VFS cache: writes stream, reads use its 16 MiB buffer).
    const env = { ...process.env };
    delete env.AWS_CA_BUNDLE;
    const child = spawn(
      'rclone',
      [
        'mount',
        `:s3:${Bucket}`,
        dir,
        '--s3-provider=Other',
        `--s3-endpoint=${s3.endpoint}`,
        `--s3-access-key-id=${s3.accessKeyId}`,
        `--s3-secret-access-key=${s3.secretAccessKey}`,
        '--s3-force-path-style=true',
        `--s3-region=${s3.region}`,
        '--config=/dev/null',
      ],
      { env, stdio: 'ignore' },
    );
    return daemonMount(dir, child, 'rclone');
  },
  s3fs: (dir) => {
    const child = spawn(
      's3fs',
      [
        Bucket,
        dir,
        '-f',
        '-o',
        `url=${s3.endpoint}`,
        '-o',
        'use_path_request_style',
        '-o',
        `passwd_file=${passwd}`,
        '-o',
        `endpoint=${s3.region}`,
      ],
      { stdio: 'ignore' },
    );
    return daemonMount(dir, child, 's3fs');
  },
};

const r = new Rounds();
// libfuse's C passthrough over the same bytes in memory: what FUSE alone costs on this machine.
let passthrough;
try {
  passthrough = await startPassthrough(scratch);
  await writeFile(passwd, `${s3.accessKeyId}:${s3.secretAccessKey}\n`, { mode: 0o600 });
  await run('bash', ['-c', `head -c ${SIZE} /dev/urandom > ${source}`]);
  await new Upload({
    client,
    params: { Bucket, Key: 'bench/read.bin', Body: createReadStream(source) },
    partSize: PART,
    queueSize: 4,
  }).done();
  for (let i = 0; i < FILES; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, FILES - i) }, (_, j) =>
        client.send(new PutObjectCommand({ Bucket, Key: `bench/many/f${String(i + j).padStart(5, '0')}`, Body: 'x' })),
      ),
    );
  }

  for (let round = 0; round < ROUNDS; round++) {
    // ---- the SDK directly ----
    const list = r.add(
      'list',
      await seconds(async () => {
        let token;
        let n = 0;
        do {
          const out = await client.send(
            new ListObjectsV2Command({ Bucket, Prefix: 'bench/many/', Delimiter: '/', ContinuationToken: token }),
          );
          n += out.Contents?.length ?? 0;
          token = out.IsTruncated ? out.NextContinuationToken : undefined;
        } while (token);
        if (n !== FILES) throw new Error(`listed ${n} of ${FILES}`);
      }),
    );
    const get = r.add(
      'get',
      SIZE /
        MIB /
        (await seconds(async () => {
          const out = await client.send(new GetObjectCommand({ Bucket, Key: 'bench/read.bin' }));
          let n = 0;
          for await (const chunk of out.Body) n += chunk.length;
          if (n !== SIZE) throw new Error(`read ${n} of ${SIZE}`);
        })),
    );
    const upload = r.add(
      'upload',
      SIZE /
        MIB /
        (await seconds(() =>
          new Upload({
            client,
            params: { Bucket, Key: 'bench/written-direct', Body: createReadStream(source) },
            partSize: PART,
            queueSize: 4,
          }).done(),
        )),
    );
    await client.send(new DeleteObjectCommand({ Bucket, Key: 'bench/written-direct' }));
    // The FUSE cost alone, and with it the ceiling: a transfer of the SDK's speed, then the same
    // bytes through FUSE, nothing overlapped.
    const cRead =
      SIZE / MIB / (await seconds(() => run('dd', [`if=${passthrough.through(source)}`, 'of=/dev/null', 'bs=1M', 'status=none'])));
    const cWrite = SIZE / MIB / (await seconds(() => run('cp', [source, passthrough.through(join(scratch, 'copy.bin'))])));
    await rm(join(scratch, 'copy.bin'));
    r.add('c read', cRead);
    r.add('c write', cWrite);
    r.add('read ceiling', cRead / (get + cRead));
    r.add('write ceiling', cWrite / (upload + cWrite));

    // ---- through each mount, the order of the tools turning each round ----
    const names = Object.keys(TOOLS);
    for (const name of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
      const dir = await mkdtemp(join(tmpdir(), `shylock-s3-bench-${name}-`));
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
        r.add(`${name} read MiB/s`, read);
        r.add(`${name} read`, read / get);
        r.add(`${name} read of ceiling`, read / get / r.all('read ceiling').at(-1));
        const write = SIZE / MIB / (await seconds(() => run('cp', [source, `${dir}/bench/written-${name}`])));
        r.add(`${name} write MiB/s`, write);
        r.add(`${name} write`, write / upload);
        r.add(`${name} write of ceiling`, write / upload / r.all('write ceiling').at(-1));
      } finally {
        await unmount();
        await rm(dir, { recursive: true, force: true });
      }
      await client.send(new DeleteObjectCommand({ Bucket, Key: `bench/written-${name}` }));
    }
  }

  const gib = SIZE >= 1 << 30 ? `${SIZE / (1 << 30)} GiB` : `${SIZE / MIB} MiB`;
  console.log(`\n### S3 through a mount vs the AWS SDK directly, one versitygw server (median of ${ROUNDS} interleaved rounds)\n`);
  console.log(`| work | SDK directly | shylock | rclone mount | s3fs |`);
  console.log('|---|---|---|---|---|');
  const cell = (name, row, digits = 2, unit = '×') => `**${f(r.median(`${name} ${row}`), digits)}${unit}** (${r.range(`${name} ${row}`)})`;
  console.log(
    `| read a ${gib} object (dd bs=1M vs GetObject streamed) | ${f(r.median('get'))} MiB/s | ${cell('shylock', 'read')} | ${cell('rclone', 'read')} | ${cell('s3fs', 'read')} |`,
  );
  console.log(
    `| write it (cp vs lib-storage Upload, 8 MiB parts, 4 at once) | ${f(r.median('upload'))} MiB/s | ${cell('shylock', 'write')} | ${cell('rclone', 'write')} | ${cell('s3fs', 'write')} |`,
  );
  console.log(
    `| ls -l of ${f(FILES)} objects (time, vs the LIST calls alone) | ${f(r.median('list') * 1000)} ms | ${cell('shylock', 'ls')} | ${cell('rclone', 'ls')} | ${cell('s3fs', 'ls')} |`,
  );
  console.log(
    `\nThrough the mounts, MiB/s: read shylock ${f(r.median('shylock read MiB/s'))}, rclone ${f(r.median('rclone read MiB/s'))}, s3fs ${f(r.median('s3fs read MiB/s'))}; ` +
      `write shylock ${f(r.median('shylock write MiB/s'))}, rclone ${f(r.median('rclone write MiB/s'))}, s3fs ${f(r.median('s3fs write MiB/s'))}. ` +
      `Targets: read and write ≥ 0.9× of the SDK, ls -l ≤ 1.3× of the LIST calls, shylock ahead of rclone and s3fs on every row (ls: lower is better).`,
  );
  console.log(
    `\nThe same bytes in memory through libfuse's C passthrough (no S3): read ${f(r.median('c read'))} MiB/s, cp ${f(r.median('c write'))} MiB/s. ` +
      `A transfer at the SDK's speed and then that FUSE cost, nothing overlapped, is ${f(r.median('read ceiling'), 2)}× of the SDK for reads and ${f(r.median('write ceiling'), 2)}× for writes: the ceiling of a FUSE file system here. ` +
      `shylock reaches ${f(r.median('shylock read of ceiling'), 2)}× of it reading (rounds ${r.range('shylock read of ceiling')}) and ${f(r.median('shylock write of ceiling'), 2)}× writing (rounds ${r.range('shylock write of ceiling')}).`,
  );
} finally {
  await passthrough?.stop();
  client.destroy();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
}
