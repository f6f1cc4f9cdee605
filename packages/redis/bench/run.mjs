// @shylock/redis benchmark, side by side in one run against a real Redis started here:
// pub/sub messages per second through the mount vs ioredis directly, and reading 1 MiB kv
// values through the mount vs ioredis GET, beside libfuse's C passthrough reading the same
// values from files in memory. Five rounds interleave the targets; every figure is the median of
// the rounds, every ratio taken within a round.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { mount } from '@shylock/fuse';
import { format as f, Rounds, startPassthrough, startRedis } from '@shylock/test-servers';
import { redisBackend } from '@shylock/redis';

const run = promisify(execFile);
const MESSAGES = 50_000;
const MESSAGE = 'm'.repeat(99); // 100 bytes with the newline
const VALUES = 64;
const ROUNDS = 5;
const server = await startRedis();
const client = new Redis({ host: '127.0.0.1', port: server.port });
const mnt = await mkdtemp(join(tmpdir(), 'shylock-redis-bench-'));
let m;
let passthrough;
let shm;
const python = (code, ...args) => spawn('python3', ['-c', code, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
const output = (child) =>
  new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`python exited ${code}`))));
  });
const subscribers = async (channel) => Number((await client.pubsub('NUMSUB', channel))[1]);
const until = async (check) => {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
};

try {
  // As the CLI mounts it; a backlog big enough that the reader never drops a message.
  m = await mount(redisBackend({ host: server.endpoint, backlog: MESSAGES * 2 }), mnt, { attrTimeout: 1 });

  // ---- pub/sub: publish N messages, time until the reader has all of them ----
  const pubsubDirect = async (r) => {
    const channel = `direct-${r}`;
    const sub = client.duplicate();
    let got = 0;
    let done;
    const all = new Promise((resolve) => (done = resolve));
    sub.on('messageBuffer', () => ++got === MESSAGES && done());
    await sub.subscribe(channel);
    const t0 = performance.now();
    for (let i = 0; i < MESSAGES; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, MESSAGES - i) }, () => client.publish(channel, MESSAGE)));
    }
    await all;
    const rate = MESSAGES / ((performance.now() - t0) / 1000);
    sub.disconnect();
    return rate;
  };
  const pubsubMounted = async (r) => {
    const file = join(mnt, 'pubsub', `mounted-${r}`);
    // The reader counts lines until it has N; the writer writes N lines in 128 KiB writes.
    const reader = python(
      `import sys
n = int(sys.argv[2]); seen = 0
with open(sys.argv[1], 'rb', buffering=0) as f:
    while seen < n:
        seen += f.read(131072).count(b'\\n')
print(seen)`,
      file,
      String(MESSAGES),
    );
    const counted = output(reader);
    await until(async () => (await subscribers(`mounted-${r}`)) === 1);
    const t0 = performance.now();
    await run('python3', [
      '-c',
      `import sys
line = b'${MESSAGE}\\n'; n = int(sys.argv[2]); per = 131072 // len(line)
with open(sys.argv[1], 'wb', buffering=0) as f:
    left = n
    while left > 0:
        k = min(per, left); f.write(line * k); left -= k`,
      file,
      String(MESSAGES),
    ]);
    await counted;
    return MESSAGES / ((performance.now() - t0) / 1000);
  };

  // ---- kv: read 1 MiB values ----
  // The same open+read+close of 1 MiB files through libfuse's C passthrough (files in memory, so
  // no backend costs anything) gives what the FUSE round trips alone cost on this machine: the
  // ceiling of any FUSE mount against a direct GET. Rounds interleave the three targets.
  const value = Buffer.alloc(1 << 20, 'v');
  for (let i = 0; i < VALUES; i++) await client.set(`big/v${i}`, value);
  shm = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-redis-bench-'));
  for (let i = 0; i < VALUES; i++) await writeFile(join(shm, `v${i}`), value);
  passthrough = await startPassthrough(shm);
  const readFiles = async (dir) => {
    const { stdout } = await run('python3', [
      '-c',
      `import os, sys, time
d = sys.argv[1]; n = int(sys.argv[2]); t = time.perf_counter()
for i in range(n):
    with open(os.path.join(d, 'v%d' % i), 'rb', buffering=0) as f:
        while f.read(131072): pass
print(n / (time.perf_counter() - t))`,
      dir,
      String(VALUES),
    ]);
    return Number(stdout);
  };
  const r = new Rounds();
  for (let round = 0; round < ROUNDS; round++) {
    const direct = r.add('pubsub direct', await pubsubDirect(round));
    r.add('pubsub ratio', r.add('pubsub mounted', await pubsubMounted(round)) / direct);
    const t0 = performance.now();
    for (let i = 0; i < VALUES; i++) await client.getBuffer(`big/v${i}`);
    const get = r.add('get', VALUES / ((performance.now() - t0) / 1000));
    const mounted = r.add('kv mounted', await readFiles(join(mnt, 'kv', 'big')));
    const c = r.add('c', await readFiles(passthrough.through(shm)));
    r.add('kv ratio', mounted / get);
    // A GET, then the FUSE work of the C passthrough, with nothing overlapped.
    const ceiling = r.add('ceiling', c / (get + c));
    r.add('of ceiling', mounted / get / ceiling);
  }

  console.log(`\n### Redis through the mount vs ioredis directly (median of ${ROUNDS} interleaved rounds)\n`);
  console.log('| work | ioredis directly | through the mount | ratio | rounds |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| pub/sub: ${f(MESSAGES)} messages of 100 bytes, publish → received | ${f(r.median('pubsub direct'))} msg/s | ${f(r.median('pubsub mounted'))} msg/s | **${f(r.median('pubsub ratio'), 2)}×** (target ≥ 0.6×) | ${r.range('pubsub ratio')}× |`,
  );
  console.log(
    `| kv: read ${VALUES} values of 1 MiB (GET vs open+read+close) | ${f(r.median('get'))} values/s | ${f(r.median('kv mounted'))} values/s | ${f(r.median('kv ratio'), 2)}× | ${r.range('kv ratio')}× |`,
  );
  console.log(
    `\nThe same ${VALUES} values as files in memory through libfuse's C passthrough (no backend): ${f(r.median('c'))} files/s. ` +
      `A GET plus that FUSE cost, nothing overlapped, is ${f(r.median('ceiling'), 2)}× a direct GET (rounds ${r.range('ceiling')}×): the ceiling. ` +
      `The mount reaches **${f(r.median('of ceiling'), 2)}× of the ceiling** (target ≥ 0.9×; rounds ${r.range('of ceiling')}×).`,
  );
} finally {
  await passthrough?.stop();
  if (shm) await rm(shm, { recursive: true, force: true });
  await m?.unmount();
  client.disconnect();
  await server.stop();
  await rm(mnt, { recursive: true, force: true });
}
