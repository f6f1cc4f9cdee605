// @shylock/qos benchmarks: every figure is measured side by side in this one run.
//   node bench/run.mjs            all tables (about 45 s)
//   node bench/run.mjs --quick    shorter runs, for a smoke check
import { RateLimiter } from 'limiter';
import { parseOpenFlags } from '@shylock/core';
import { memoryBackend } from '@shylock/memory';
import { createLimiter, createPolicy, qosLayer } from '@shylock/qos';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 1 : 5;
const KiB = 1024;
const MiB = 1024 * 1024;

const table = (title, head, rows) => {
  console.log(`\n### ${title}\n`);
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
};
const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/**
 * Calls `fn` in a loop for `ms` and returns calls per second (best of 3 rounds). With `sync`,
 * calls are not awaited (for tryAcquire); batches of 1,000 keep the clock out of the loop.
 */
async function rate(fn, { sync = false, ms = quick ? 300 : 1000 } = {}) {
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms) {
      if (sync) for (let i = 0; i < 1000; i++) fn();
      else for (let i = 0; i < 1000; i++) await fn();
      n += 1000;
      t = performance.now();
    }
    best = Math.max(best, n / ((t - t0) / 1000));
  }
  return best;
}

// 1. Throughput when tokens are available.
{
  const ours = createLimiter({ bytesPerSecond: 1e15, opsPerSecond: 1e15 });
  const theirs = new RateLimiter({ tokensPerInterval: 1e15, interval: 'second' });
  const oursAwait = await rate(() => ours.acquire(1));
  const theirsAwait = await rate(() => theirs.removeTokens(1));
  const oursTry = await rate(() => ours.tryAcquire(1), { sync: true });
  const theirsTry = await rate(() => theirs.tryRemoveTokens(1), { sync: true });
  table(
    'Limiter calls per second, tokens available (higher is better)',
    ['call', '@shylock/qos', 'npm limiter 4', 'ratio'],
    [
      ['awaited `acquire(1)` vs `removeTokens(1)`', fmt(oursAwait), fmt(theirsAwait), `${fmt(oursAwait / theirsAwait, 2)}×`],
      ['`tryAcquire(1)` vs `tryRemoveTokens(1)`', fmt(oursTry), fmt(theirsTry), `${fmt(oursTry / theirsTry, 2)}×`],
    ],
  );
}

// 2. Accuracy: achieved vs configured rate, after the initial burst is spent.
async function achieved({ bytesPerSecond, opsPerSecond, chunk, consumers = 1 }) {
  const limiter = createLimiter({ bytesPerSecond, opsPerSecond });
  while (limiter.tryAcquire(chunk)); // spend the burst: measure the steady rate
  const t0 = performance.now();
  const stopAt = t0 + SECONDS * 1000;
  const shares = new Array(consumers).fill(0);
  let last = t0;
  await Promise.all(
    shares.map(async (_, i) => {
      while (performance.now() < stopAt) {
        await limiter.acquire(chunk);
        last = performance.now();
        shares[i] += 1;
      }
    }),
  );
  const seconds = (last - t0) / 1000;
  const total = shares.reduce((a, b) => a + b, 0);
  return { perSecond: total / seconds, shares, seconds };
}
{
  const rows = [];
  for (const [label, bytesPerSecond, chunk] of [
    ['64 KiB/s', 64 * KiB, 1 * KiB],
    ['1 MiB/s', 1 * MiB, 16 * KiB],
    ['256 MiB/s', 256 * MiB, 1 * MiB],
  ]) {
    const r = await achieved({ bytesPerSecond, chunk });
    const got = r.perSecond * chunk;
    rows.push([label, `${fmt(got / KiB, 1)} KiB/s`, `${fmt(((got - bytesPerSecond) / bytesPerSecond) * 100, 2)}%`, fmt(r.seconds, 1)]);
  }
  const ops = await achieved({ opsPerSecond: 1000, chunk: 0 });
  rows.push(['1000 ops/s', `${fmt(ops.perSecond, 1)} ops/s`, `${fmt(((ops.perSecond - 1000) / 1000) * 100, 2)}%`, fmt(ops.seconds, 1)]);
  table(`Accuracy over ${SECONDS} s, one consumer (target ±2%)`, ['configured', 'achieved', 'error', 'seconds'], rows);

  const many = await achieved({ bytesPerSecond: 1 * MiB, chunk: 4 * KiB, consumers: 50 });
  const fair = many.shares.reduce((a, b) => a + b, 0) / 50;
  const worst = Math.max(...many.shares.map((s) => Math.abs(s - fair) / fair));
  const total = many.perSecond * 4 * KiB;
  table(
    `50 concurrent consumers of one 1 MiB/s rule over ${SECONDS} s (targets: total ±2%, each ±10%)`,
    ['total', 'error', 'worst consumer vs fair share'],
    [[`${fmt(total / KiB, 1)} KiB/s`, `${fmt(((total - MiB) / MiB) * 100, 2)}%`, `${fmt(worst * 100, 2)}%`]],
  );
}

// 3. Policy lookup cost: 10,000 rules vs 1.
{
  const huge = { readBytesPerSec: 1e15, readOpsPerSec: 1e15 };
  const one = createPolicy([{ path: '/users/u42', ...huge }]);
  const many = createPolicy(Array.from({ length: 10_000 }, (_, i) => ({ path: `/users/u${i}`, ...huge })));
  const path = '/users/u42/projects/2026/report.csv';
  const r1 = await rate(() => one.acquire(path, 'read', 4096));
  const r10k = await rate(() => many.acquire(path, 'read', 4096));
  table(
    '`policy.acquire` per second, path 5 segments deep (target: 10,000 rules ≥ 0.5× of 1 rule)',
    ['rules', 'acquire/s', 'vs 1 rule'],
    [
      ['1', fmt(r1), '1.00×'],
      ['10,000', fmt(r10k), `${fmt(r10k / r1, 2)}×`],
    ],
  );
}

// 4. qosLayer overhead when its rule never throttles: 4 KiB reads from a memory backend.
{
  const data = new Uint8Array(1 * MiB);
  const plain = memoryBackend({ files: { '/u/f': data } });
  const policy = createPolicy([{ path: '/u', readBytesPerSec: 1e15, readOpsPerSec: 1e15 }]);
  const layered = qosLayer(policy)(memoryBackend({ files: { '/u/f': data } }));
  const buf = new Uint8Array(4 * KiB);
  const hPlain = await plain.open('/u/f', parseOpenFlags('r'));
  const hLayered = await layered.open('/u/f', parseOpenFlags('r'));
  let a = 0;
  let b = 0;
  const rPlain = await rate(() => hPlain.read(buf, (a = (a + 4096) % MiB)));
  const rLayered = await rate(() => hLayered.read(buf, (b = (b + 4096) % MiB)));
  table(
    '4 KiB reads per second from memory, with and without a never-throttling qosLayer',
    ['backend', 'reads/s', 'MiB/s', 'ratio'],
    [
      ['memory', fmt(rPlain), fmt((rPlain * 4) / 1024, 0), '1.00×'],
      ['qosLayer(memory)', fmt(rLayered), fmt((rLayered * 4) / 1024, 0), `${fmt(rLayered / rPlain, 2)}×`],
    ],
  );
  await hPlain.close();
  await hLayered.close();
}

// 5. Budgets shared through Redis (a real redis-server started here): the cost of sharing, the
// accuracy of a fleet of processes, and Redis round trips per MiB.
{
  const { startRedis } = await import('@shylock/test-servers');
  const { Redis } = await import('ioredis');
  const { RateLimiterRedis } = await import('rate-limiter-flexible');
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const redis = await startRedis();
  const client = new Redis(redis.endpoint);
  try {
    const huge = { bytesPerSecond: 1e15, opsPerSecond: 1e15 };
    const local = createLimiter(huge);
    const rLocal = await rate(() => local.acquire(4096));
    // Made and connected only now: a loop of resolved awaits starves the event loop, and a
    // connection still being made meanwhile would time out.
    const shared = createLimiter({ ...huge, shared: { redis: redis.endpoint, namespace: 'bench', key: 'fast' } });
    await shared.acquire(4096);
    const flexible = new RateLimiterRedis({ storeClient: client, points: 1e15, duration: 1, keyPrefix: 'bench-rlf' });
    const rShared = await rate(() => shared.acquire(4096));
    const rFlexible = await rate(() => flexible.consume('fast', 4096), { ms: quick ? 300 : 1000 });
    table(
      'Awaited `acquire(4096)` per second with tokens available: local, shared through Redis (leases), `rate-limiter-flexible` RateLimiterRedis `consume` (target: shared ≥ 0.5× of local)',
      ['limiter', 'acquire/s', 'vs local', 'Redis round trips'],
      [
        ['createLimiter (local)', fmt(rLocal), '1.00×', '0'],
        ['createLimiter({ shared })', fmt(rShared), `${fmt(rShared / rLocal, 2)}×`, fmt(shared.leases ?? 0)],
        ['rate-limiter-flexible', fmt(rFlexible), `${fmt(rFlexible / rLocal, 3)}×`, 'one per call'],
      ],
    );
    await shared.close();

    // A fleet of worker processes reading as fast as one rule lets them.
    const worker = fileURLToPath(new URL('../test/fixtures/shared-worker.mjs', import.meta.url));
    const calls = async () => {
      const info = await client.info('commandstats');
      let n = 0;
      for (const m of info.matchAll(/^cmdstat_(evalsha|eval|zrem|hgetall|multi):calls=(\d+)/gm)) n += Number(m[2]);
      return n;
    };
    const fleet = async (processes, bytesPerSecond, request) => {
      const latest = new Array(processes);
      const ns = `bench-fleet-${processes}-${bytesPerSecond}`;
      const children = [];
      await Promise.all(
        Array.from({ length: processes }, (_, i) => {
          const child = spawn(
            process.execPath,
            [
              worker,
              JSON.stringify({
                redis: redis.endpoint,
                namespace: ns,
                rules: [{ path: '/u', readBytesPerSec: bytesPerSecond }],
                path: '/u/f',
                bytes: request,
              }),
            ],
            { stdio: ['pipe', 'pipe', 'inherit'] },
          );
          children.push(child);
          let buffer = '';
          return new Promise((resolve) => {
            child.stdout.on('data', (d) => {
              buffer += d;
              for (let j = buffer.indexOf('\n'); j >= 0; j = buffer.indexOf('\n')) {
                const m = JSON.parse(buffer.slice(0, j));
                buffer = buffer.slice(j + 1);
                if (m.ready) resolve();
                if (m.bytes !== undefined) latest[i] = m;
              }
            });
          });
        }),
      );
      await new Promise((r) => setTimeout(r, 1000));
      const a = latest.map((m) => ({ ...m }));
      const c0 = await calls();
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      const c1 = await calls();
      const b = latest.map((m) => ({ ...m }));
      for (const child of children) child.kill('SIGTERM');
      await Promise.all(children.map((child) => new Promise((r) => child.once('exit', r))));
      const rates = b.map((m, i) => (m.bytes - a[i].bytes) / ((m.t - a[i].t) / 1000));
      const total = rates.reduce((x, y) => x + y, 0);
      const fair = bytesPerSecond / processes;
      const moved = b.reduce((s, m, i) => s + m.bytes - a[i].bytes, 0);
      return {
        total,
        error: (total - bytesPerSecond) / bytesPerSecond,
        worst: Math.max(...rates.map((r) => Math.abs(r - fair) / fair)),
        tripsPerMiB: (c1 - c0) / (moved / MiB),
      };
    };
    const rows = [];
    for (const [processes, bytesPerSecond, request] of [
      [2, 4 * MiB, 128 * KiB],
      [4, 4 * MiB, 128 * KiB],
      [8, 4 * MiB, 128 * KiB],
      [4, 64 * MiB, 128 * KiB],
      [4, 4 * MiB, 16 * KiB],
    ]) {
      const r = await fleet(processes, bytesPerSecond, request);
      rows.push([
        String(processes),
        `${fmt(bytesPerSecond / MiB)} MiB/s`,
        `${request / KiB} KiB`,
        `${fmt(r.total / MiB, 3)} MiB/s`,
        `${fmt(r.error * 100, 2)}%`,
        `${fmt(r.worst * 100, 1)}%`,
        fmt(r.tripsPerMiB, 1),
      ]);
    }
    table(
      `Processes sharing one rule through Redis, each reading as fast as it may, over ${SECONDS} s (targets: total ±3%, each within ±15% of its fair share)`,
      ['processes', 'rule', 'request', 'total', 'error', 'worst vs fair share', 'Redis round trips per MiB'],
      rows,
    );
  } finally {
    client.disconnect();
    await redis.stop();
  }
}
