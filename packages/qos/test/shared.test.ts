import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isShylockError, type QosRule } from '@shylock/core';
import { startOrSkip, startRedis } from '@shylock/test-servers';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLimiter, createPolicy } from '../src/index.js';

const { server: redis, skip } = await startOrSkip(startRedis);
afterAll(() => redis?.stop());

const WORKER = fileURLToPath(new URL('./fixtures/shared-worker.mjs', import.meta.url));
const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let namespaces = 0;
const namespace = () => `test-${process.pid}-${++namespaces}`;

interface Report {
  t: number;
  bytes: number;
  ops: number;
  failures: number;
  maxWait: number;
}

/** Worker processes sharing budgets (test/fixtures/shared-worker.mjs), with what they report. */
class Fleet {
  readonly children: ChildProcess[] = [];
  readonly latest: (Report | undefined)[] = [];
  readonly stderr: string[] = [];
  readonly rules: (QosRule | null)[][] = [];
  readonly apis: (string | null)[] = [];

  async start(n: number, options: Record<string, unknown>): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const index = this.children.length;
      const child = spawn(process.execPath, [WORKER, JSON.stringify({ redis: redis!.endpoint, ...options, api: index === 0 })], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      this.children.push(child);
      this.stderr.push('');
      this.rules.push([]);
      this.apis.push(null);
      child.stderr!.on('data', (d) => (this.stderr[index] += String(d)));
      let buffer = '';
      ready.push(
        new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`worker ${index} exited ${code}: ${this.stderr[index]}`)));
          child.stdout!.on('data', (d) => {
            buffer += String(d);
            for (let j = buffer.indexOf('\n'); j >= 0; j = buffer.indexOf('\n')) {
              const m = JSON.parse(buffer.slice(0, j));
              buffer = buffer.slice(j + 1);
              if (m.ready) {
                this.apis[index] = m.api;
                resolve();
              }
              if (m.rule !== undefined) this.rules[index]!.push(m.rule);
              if (m.bytes !== undefined) this.latest[index] = m;
            }
          });
        }),
      );
    }
    await Promise.all(ready);
  }

  /** Every live worker's latest report. */
  snapshot(): (Report | undefined)[] {
    return this.latest.map((r) => (r ? { ...r } : undefined));
  }

  /** Per worker, units per second between two snapshots (each on its own clock). */
  static rates(a: (Report | undefined)[], b: (Report | undefined)[], unit: 'bytes' | 'ops' = 'bytes'): number[] {
    return b.map((r, i) => (r && a[i] ? (r[unit] - a[i]![unit]) / ((r.t - a[i]!.t) / 1000) : 0));
  }

  /** Rates over the next `ms`, after the reports have caught up. */
  async measure(ms: number, unit: 'bytes' | 'ops' = 'bytes'): Promise<number[]> {
    const a = this.snapshot();
    await sleep(ms);
    return Fleet.rates(a, this.snapshot(), unit);
  }

  kill(i: number): void {
    this.children[i]!.kill('SIGKILL');
    this.latest[i] = undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const within = (value: number, target: number, fraction: number) => Math.abs(value - target) <= target * fraction;

describe.skipIf(!redis)(`budgets shared through Redis${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('four processes share one 4 MiB/s rule: the total holds ±3% over 10 s, each gets its share ±15%, and a process stopping gives its share to the others within a second', async () => {
    const fleet = new Fleet();
    try {
      await fleet.start(4, {
        namespace: namespace(),
        rules: [{ path: '/users/lhj', readBytesPerSec: 4 * MiB }],
        path: '/users/lhj/data/file',
        bytes: 128 * 1024,
      });
      await sleep(1000);
      const rates = await fleet.measure(10_000);
      const total = sum(rates);
      expect(within(total, 4 * MiB, 0.03), `total ${(total / MiB).toFixed(3)} MiB/s`).toBe(true);
      for (const r of rates) expect(within(r, MiB, 0.15), `shares ${rates.map((x) => (x / MiB).toFixed(3))}`).toBe(true);

      fleet.kill(3);
      await sleep(1000);
      const after = (await fleet.measure(2000)).slice(0, 3);
      expect(within(sum(after), 4 * MiB, 0.05), `three left: ${after.map((x) => (x / MiB).toFixed(3))}`).toBe(true);
      for (const r of after) expect(within(r, (4 * MiB) / 3, 0.15), `three left: ${after.map((x) => (x / MiB).toFixed(3))}`).toBe(true);
    } finally {
      await fleet.stop();
    }
  }, 60_000);

  it('busy processes do not starve a quiet one: its requests wait behind at most one lease of each', async () => {
    const fleet = new Fleet();
    const ns = namespace();
    const rules = [{ path: '/users/lhj', readBytesPerSec: 4 * MiB }];
    try {
      await fleet.start(3, { namespace: ns, rules, path: '/users/lhj/big', bytes: 128 * 1024 });
      await fleet.start(1, { namespace: ns, rules, path: '/users/lhj/small', bytes: 16 * 1024, concurrency: 1, pause: 200 });
      await sleep(1000);
      const rates = await fleet.measure(4000, 'ops');
      // Three leases of 128 KiB at 4 MiB/s are about 94 ms; timers and a loaded machine add some.
      // (A process holding a second of credit would make it wait seconds.)
      expect(fleet.latest[3]!.maxWait, `the quiet process waited up to ${fleet.latest[3]!.maxWait} ms`).toBeLessThan(300);
      // A request every 200 ms plus its wait: at least 1000 / (200 + 300) per second.
      expect(rates[3]).toBeGreaterThan(2);
      const busy = await fleet.measure(2000);
      expect(within(sum(busy), 4 * MiB, 0.05), `total ${sum(busy) / MiB} MiB/s`).toBe(true);
    } finally {
      await fleet.stop();
    }
  }, 60_000);

  it('a 50 ops/s rule across four processes holds ±5%', async () => {
    const fleet = new Fleet();
    try {
      await fleet.start(4, {
        namespace: namespace(),
        rules: [{ path: '/queue', readOpsPerSec: 50 }],
        path: '/queue/tasks',
        bytes: 0,
      });
      await sleep(1000);
      const rates = await fleet.measure(10_000, 'ops');
      expect(within(sum(rates), 50, 0.05), `ops/s ${rates.map((x) => x.toFixed(2))}`).toBe(true);
      for (const r of rates) expect(within(r, 12.5, 0.25), `ops/s ${rates.map((x) => x.toFixed(2))}`).toBe(true);
    } finally {
      await fleet.stop();
    }
  }, 60_000);

  it("a change through one process's REST API reaches every process within a second and holds; metrics show the cluster's use", async () => {
    const fleet = new Fleet();
    try {
      await fleet.start(3, {
        namespace: namespace(),
        rules: [{ path: '/users/lhj', readBytesPerSec: 3 * MiB }],
        path: '/users/lhj/f',
        bytes: 64 * 1024,
      });
      await sleep(500);
      const changed = Date.now();
      const res = await fetch(`${fleet.apis[0]}/key/users/lhj`, {
        method: 'PUT',
        body: JSON.stringify({ read_limit: 1.5 * MiB }),
      });
      expect(res.status).toBe(200);
      for (let i = 0; i < 3; i++) {
        while (!fleet.rules[i]!.some((r) => r?.readBytesPerSec === 1.5 * MiB)) {
          expect(Date.now() - changed, `process ${i} still has ${JSON.stringify(fleet.rules[i])}`).toBeLessThan(1000);
          await sleep(20);
        }
      }
      await sleep(500);
      const rates = await fleet.measure(3000);
      expect(within(sum(rates), 1.5 * MiB, 0.05), `after the change: ${rates.map((x) => (x / MiB).toFixed(3))}`).toBe(true);

      const metrics = await (await fetch(`${fleet.apis[0]}/metrics`)).text();
      const own = Number(/^shylock_qos_bytes_total\{path="\/users\/lhj",direction="read"\} (\d+)/m.exec(metrics)?.[1]);
      const cluster = Number(/^shylock_qos_cluster_bytes_total\{path="\/users\/lhj",direction="read"\} (\d+)/m.exec(metrics)?.[1]);
      expect(own).toBeGreaterThan(0);
      // Three processes at one share each: the cluster's use is about three times this one's.
      expect(cluster / own).toBeGreaterThan(2.5);
      expect(cluster / own).toBeLessThan(3.5);

      // A rule added on one process appears on the others; removed, it goes.
      await fetch(`${fleet.apis[0]}/key/users/lhj`, { method: 'DELETE' });
      const removed = Date.now();
      for (let i = 0; i < 3; i++) {
        while (fleet.rules[i]!.at(-1) !== null) {
          expect(Date.now() - removed).toBeLessThan(1000);
          await sleep(20);
        }
      }
    } finally {
      await fleet.stop();
    }
  }, 60_000);

  it('a policy started without rules takes the shared ones; one started with rules replaces them for all', async () => {
    const ns = namespace();
    const first = createPolicy([{ path: '/a', readBytesPerSec: 1000 }], { shared: { redis: redis!.endpoint, namespace: ns } });
    await first.ready();
    const second = createPolicy([], { shared: { redis: redis!.endpoint, namespace: ns } });
    try {
      await second.ready();
      expect(second.rules()).toEqual([{ path: '/a', readBytesPerSec: 1000 }]);
      const changed = new Promise<void>((resolve) => first.onChange(resolve));
      const third = createPolicy([{ path: '/b', writeOpsPerSec: 5 }], { shared: { redis: redis!.endpoint, namespace: ns } });
      await third.ready();
      await changed;
      expect(first.rules()).toEqual([{ path: '/b', writeOpsPerSec: 5 }]);
      await third.close();
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('createLimiter shares one budget by key; credit not used goes back to the cluster', async () => {
    const ns = namespace();
    const shared = { redis: redis!.endpoint, namespace: ns, key: 'uploads' };
    const a = createLimiter({ bytesPerSecond: 1 * MiB, shared });
    const b = createLimiter({ bytesPerSecond: 1 * MiB, shared });
    const client = new Redis(redis!.endpoint);
    try {
      // Both at once, 1 MiB each beyond the bursts: together they need about two seconds.
      const started = performance.now();
      await Promise.all(
        [a, b].map(async (l) => {
          for (let i = 0; i < 16; i++) await l.acquire(64 * 1024);
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      expect(seconds).toBeGreaterThan(1.6);
      expect(seconds).toBeLessThan(2.6);
      // Idle for a moment: what each leased beyond its use goes back, so the cluster's count is
      // what was spent.
      await sleep(400);
      const leased = Number(await client.hget(`${ns}:usage`, 'limiter:uploads:b'));
      expect(leased).toBeCloseTo(2 * MiB, -3);
    } finally {
      client.disconnect();
      await a.close();
      await b.close();
    }
  });

  it('Redis unreachable at the start: an equal local share at once, said once on stderr; no hang', async () => {
    const messages: string[] = [];
    const started = performance.now();
    const limiter = createLimiter({
      bytesPerSecond: 1 * MiB,
      shared: { redis: 'redis://127.0.0.1:1', namespace: namespace(), log: (m) => messages.push(m) },
    });
    try {
      for (let i = 0; i < 4; i++) await limiter.acquire(128 * 1024);
      expect((performance.now() - started) / 1000).toBeLessThan(4);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatch(
        /^Redis at 127\.0\.0\.1:1 is unreachable \(.*\): each process keeps 1\/1 of every shared rule until it is back$/,
      );
    } finally {
      await limiter.close();
    }
  });

  it("fail-closed: while Redis can't be reached a shared rule rejects EAGAIN", async () => {
    const limiter = createLimiter({
      bytesPerSecond: 1 * MiB,
      shared: { redis: 'redis://127.0.0.1:1', namespace: namespace(), onUnavailable: 'fail', log: () => undefined },
    });
    try {
      const error = await limiter.acquire(1).catch((e) => e);
      expect(isShylockError(error) && error.code).toBe('EAGAIN');
      expect(error.message).toMatch(/unreachable/);
    } finally {
      await limiter.close();
    }
  });

  it('bad shared options are refused with what to fix', () => {
    expect(() => createLimiter({ bytesPerSecond: 1, shared: { redis: 'http://x:1' } })).toThrow(/must be redis:\/\/host:port/);
    expect(() => createPolicy([], { shared: { redis: 42 as unknown as string } })).toThrow(/redis:\/\/host:port URL or an ioredis client/);
    expect(() => createLimiter({ bytesPerSecond: 1, shared: { redis: 'localhost:6379', onUnavailable: 'maybe' as 'fail' } })).toThrow(
      /'local-share' or 'fail'/,
    );
  });

  it('a hung Redis (SIGSTOP) never hangs a request: commands time out to the fallback, and the store rejoins after SIGCONT', async () => {
    const messages: string[] = [];
    const limiter = createLimiter({
      bytesPerSecond: 4 * MiB,
      shared: { redis: redis!.endpoint, namespace: namespace(), key: 'hung', log: (m) => messages.push(m) },
    });
    const pid = execFileSync('pgrep', ['-f', `redis-server 127.0.0.1:${redis!.port}`], { encoding: 'utf8' }).trim();
    try {
      await limiter.acquire(128 * 1024);
      expect(messages).toEqual([]);
      process.kill(Number(pid), 'SIGSTOP');
      const started = performance.now();
      for (let i = 0; i < 8; i++) await limiter.acquire(128 * 1024);
      expect((performance.now() - started) / 1000).toBeLessThan(3);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatch(/is unreachable \(no answer within 1000 ms\)/);
      process.kill(Number(pid), 'SIGCONT');
      const resumed = performance.now();
      while (messages.length < 2) {
        expect(performance.now() - resumed).toBeLessThan(3000);
        await sleep(50);
      }
      expect(messages[1]).toMatch(/is back: QoS budgets are shared again/);
    } finally {
      process.kill(Number(pid), 'SIGCONT');
      await limiter.close();
    }
  }, 30_000);

  // Last: it stops the server.
  it('Redis stopped: each process falls back to an equal share and says so once; shared again (rules and all) when Redis is back', async () => {
    const fleet = new Fleet();
    const ns = namespace();
    try {
      await fleet.start(4, {
        namespace: ns,
        rules: [{ path: '/users/lhj', readBytesPerSec: 4 * MiB }],
        path: '/users/lhj/f',
        bytes: 128 * 1024,
      });
      await sleep(1500);
      await redis!.kill();
      await sleep(1500);
      for (let i = 0; i < 4; i++) expect(fleet.stderr[i]).toMatch(/is unreachable .*: each process keeps 1\/4 of every shared rule/);
      const alone = await fleet.measure(3000);
      for (const r of alone) expect(within(r, MiB, 0.15), `fallback: ${alone.map((x) => (x / MiB).toFixed(3))}`).toBe(true);

      // An empty server comes back on the same port: the processes rejoin and write their rules.
      await redis!.restart();
      await sleep(2500);
      for (let i = 0; i < 4; i++) {
        expect(fleet.stderr[i]!.match(/unreachable/g)).toHaveLength(1);
        expect(fleet.stderr[i]).toMatch(/is back: QoS budgets are shared again/);
      }
      const client = new Redis(redis!.endpoint);
      try {
        expect(JSON.parse((await client.hget(`${ns}:rules`, '/users/lhj'))!)).toEqual({ path: '/users/lhj', readBytesPerSec: 4 * MiB });
        expect(await client.zcard(`${ns}:members`)).toBe(4);
      } finally {
        client.disconnect();
      }
      const rates = await fleet.measure(3000);
      expect(within(sum(rates), 4 * MiB, 0.05), `shared again: ${rates.map((x) => (x / MiB).toFixed(3))}`).toBe(true);
      for (const f of fleet.latest) expect(f?.failures).toBe(0);
    } finally {
      await fleet.stop();
    }
  }, 60_000);
});
