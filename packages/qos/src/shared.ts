import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ShylockError, type QosRule } from '@shylock/core';

/** An ioredis client (only its `duplicate`): the store opens connections of its own like it. */
export interface RedisClientLike {
  duplicate(override?: Record<string, unknown>): unknown;
}

/**
 * Where budgets shared by many processes live: a Redis server. Every process (on any host) that
 * names the same server and namespace shares the budget of each rule (or limiter key).
 */
export interface SharedOptions {
  /**
   * The Redis server: `redis://[:password@]host:port[/db]`, `host:port`, or an ioredis client
   * (its connection options are reused for connections of the store's own).
   */
  redis: string | RedisClientLike;
  /** Prefix of every key and channel (default `shylock:qos`): processes sharing budgets use one. */
  namespace?: string;
  /**
   * While Redis cannot be reached: `'local-share'` (default) — each process limits itself to an
   * equal share of each rule (its rate ÷ the number of processes last seen); `'fail'` — requests
   * under a shared rule reject `EAGAIN`. Either way the store rejoins by itself when Redis is back.
   */
  onUnavailable?: 'local-share' | 'fail';
  /** Told once when Redis goes away and once when it is back (default: a line on stderr). */
  log?: (message: string) => void;
}

/** The cluster-wide counters of one budget: what every process leased and did not give back. */
export interface SharedUsage {
  bytes: number;
  ops: number;
}

/** A lease request: units of each dimension, and the budget's parameters (0 interval = unlimited). */
export interface LeaseRequest {
  bytes: number;
  ops: number;
  /** Microseconds per byte and per op. */
  byteInterval: number;
  opInterval: number;
  /** Units that may be spent at once. */
  byteBurst: number;
  opBurst: number;
}

/** How long a command may take before Redis counts as away (a hung server never hangs a mount). */
export const COMMAND_TIMEOUT_MS = 1000;
/** A process's heartbeat, and how long a silent one still counts as a member. */
export const HEARTBEAT_MS = 1000;
export const MEMBER_TTL_MS = 3000;

/**
 * Reserves units of a GCRA kept in a hash (fields b and o: the theoretical arrival time of bytes
 * and ops, in microseconds of the server's clock) and returns the microseconds until they may be
 * spent. Reservations queue in virtual time, so processes are served in the order they asked,
 * and the cluster never passes rate × time + burst. Also counts what was leased, for metrics.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ready = now
local last = now
local function take(field, n, interval, burst)
  if n <= 0 or interval <= 0 then return end
  local tat = tonumber(redis.call('HGET', KEYS[1], field)) or now
  if tat < now then tat = now end
  tat = tat + n * interval
  redis.call('HSET', KEYS[1], field, string.format('%.3f', tat))
  local r = tat - burst * interval
  if r > ready then ready = r end
  if tat > last then last = tat end
end
take('b', tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
take('o', tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
redis.call('PEXPIRE', KEYS[1], math.floor((last - now) / 1000) + 60000)
if tonumber(ARGV[1]) > 0 then redis.call('HINCRBYFLOAT', KEYS[2], ARGV[7] .. ':b', ARGV[1]) end
if tonumber(ARGV[4]) > 0 then redis.call('HINCRBYFLOAT', KEYS[2], ARGV[7] .. ':o', ARGV[4]) end
return math.floor(ready - now)
`;

/** Gives back units leased and not spent: the arrival time moves back, never before now. */
const GIVE_BACK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function back(field, n, interval)
  if n <= 0 or interval <= 0 then return end
  local tat = tonumber(redis.call('HGET', KEYS[1], field))
  if not tat then return end
  tat = tat - n * interval
  if tat < now then tat = now end
  redis.call('HSET', KEYS[1], field, string.format('%.3f', tat))
end
back('b', tonumber(ARGV[1]), tonumber(ARGV[2]))
back('o', tonumber(ARGV[3]), tonumber(ARGV[4]))
if tonumber(ARGV[1]) > 0 then redis.call('HINCRBYFLOAT', KEYS[2], ARGV[5] .. ':b', -tonumber(ARGV[1])) end
if tonumber(ARGV[3]) > 0 then redis.call('HINCRBYFLOAT', KEYS[2], ARGV[5] .. ':o', -tonumber(ARGV[3])) end
return 1
`;

/** Renews this process's membership and returns how many members are alive. */
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZCARD', KEYS[1])
`;

interface Connection {
  status: string;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void;
  quit(): Promise<unknown>;
  disconnect(): void;
  hgetall(key: string): Promise<Record<string, string>>;
  hlen(key: string): Promise<number>;
  zrem(key: string, member: string): Promise<number>;
  subscribe(channel: string): Promise<unknown>;
  multi(): {
    del(key: string): unknown;
    hset(key: string, values: Record<string, string>): unknown;
    publish(channel: string, message: string): unknown;
    hdel(key: string, ...fields: string[]): unknown;
    exec(): Promise<unknown>;
  };
  [command: string]: unknown;
}

type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Rejects when `work` has no answer within `ms`. A timer that fires late (the event loop was
 * busy, and timers run before sockets are read) waits a little more first, so a busy process
 * does not take an answer it has not read yet for a silent server.
 */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let due = performance.now() + ms;
    const check = () => {
      const now = performance.now();
      if (now - due > 50) {
        due = now + 50;
        timer = setTimeout(check, 50);
        return;
      }
      reject(new Error(`no answer within ${ms} ms`));
    };
    let timer = setTimeout(check, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Reads a `--qos-shared` value: a URL with the redis scheme, or host:port. */
export function parseRedisUrl(value: string, what = 'the shared QoS store'): string {
  const text = value.trim();
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `redis://${text}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ShylockError('EINVAL', `${what} must be redis://host:port (or host:port), got "${value}"`);
  }
  if ((parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname) {
    throw new ShylockError('EINVAL', `${what} must be redis://host:port (or host:port), got "${value}"`);
  }
  return url;
}

function describe(redis: SharedOptions['redis']): string {
  if (typeof redis !== 'string') return 'Redis';
  const u = new URL(parseRedisUrl(redis));
  return `Redis at ${u.host}`;
}

/**
 * One process's connection to the shared budgets: a command connection (scripts, members), a
 * subscriber for rule changes when asked, the heartbeat, and whether Redis is reachable now.
 */
export class SharedStore {
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly namespace: string;
  readonly failClosed: boolean;
  /** Members last seen (this process included); the equal share while Redis is away. */
  members = 1;
  #state: 'connecting' | 'up' | 'down' = 'connecting';
  #options: SharedOptions;
  #cmd: Connection | undefined;
  #sub: Connection | undefined;
  #ready: Promise<void>;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;
  /** Says something about the store once (default: a line on stderr). */
  readonly log: (message: string) => void;
  #upListeners = new Set<() => void>();
  #downListeners = new Set<() => void>();

  constructor(options: SharedOptions) {
    if (!options || (typeof options.redis !== 'string' && typeof options.redis?.duplicate !== 'function')) {
      throw new ShylockError('EINVAL', 'shared needs redis: a redis://host:port URL or an ioredis client');
    }
    if (typeof options.redis === 'string') parseRedisUrl(options.redis);
    if (options.onUnavailable !== undefined && options.onUnavailable !== 'local-share' && options.onUnavailable !== 'fail') {
      throw new ShylockError('EINVAL', `shared.onUnavailable must be 'local-share' or 'fail', got ${String(options.onUnavailable)}`);
    }
    this.#options = options;
    this.namespace = options.namespace ?? 'shylock:qos';
    this.failClosed = options.onUnavailable === 'fail';
    this.log = options.log ?? ((m) => process.stderr.write(`shylock: ${m}\n`));
    this.#ready = this.#connect();
  }

  /** True while Redis answers. */
  get up(): boolean {
    return this.#state === 'up';
  }

  get down(): boolean {
    return this.#state === 'down';
  }

  /** Resolves once the first connection was made or given up on (never rejects). */
  ready(): Promise<void> {
    return this.#ready;
  }

  key(...parts: string[]): string {
    return [this.namespace, ...parts].join(':');
  }

  async #connect(): Promise<void> {
    let Redis: new (url: string, options: Record<string, unknown>) => Connection;
    try {
      ({ Redis } = (await import('ioredis')) as unknown as { Redis: typeof Redis });
    } catch {
      throw new ShylockError('ENOSYS', 'shared QoS budgets need the ioredis package: npm install ioredis');
    }
    const options = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
      lazyConnect: false,
    };
    const redis = this.#options.redis;
    this.#cmd =
      typeof redis === 'string'
        ? new Redis(parseRedisUrl(redis), options)
        : (redis.duplicate({ ...options, lazyConnect: false }) as Connection);
    const cmd = this.#cmd;
    cmd.on('error', () => undefined);
    cmd.on('close', () => this.#markDown('the connection closed'));
    cmd.defineCommand('shylockReserve', { numberOfKeys: 2, lua: RESERVE });
    cmd.defineCommand('shylockGiveBack', { numberOfKeys: 2, lua: GIVE_BACK });
    cmd.defineCommand('shylockHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT });
    // Connected, refused, or the connect timeout: the first heartbeat says which, then the
    // heartbeat keeps watching.
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        cmd.off('ready', done);
        cmd.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, 2500);
      cmd.on('ready', done);
      cmd.on('error', done);
    });
    await this.#beat();
    if (this.#state === 'connecting') this.#markDown('it did not answer');
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  async #beat(): Promise<void> {
    if (this.#closed || !this.#cmd) return;
    try {
      const n = Number(
        await within((this.#cmd.shylockHeartbeat as Script)(this.key('members'), this.id, MEMBER_TTL_MS), COMMAND_TIMEOUT_MS),
      );
      if (n > 0) this.members = n;
      this.#markUp();
    } catch (e) {
      this.#markDown((e as Error).message);
    }
  }

  #markUp(): void {
    if (this.#state === 'up' || this.#closed) return;
    const was = this.#state;
    this.#state = 'up';
    if (was === 'down') this.log(`${describe(this.#options.redis)} is back: QoS budgets are shared again`);
    for (const listener of this.#upListeners) listener();
  }

  /** Redis did not answer: limiters turn to the fallback until the heartbeat gets through. */
  markDown(error: unknown): void {
    this.#markDown(error instanceof Error ? error.message : String(error));
  }

  #markDown(reason: string): void {
    if (this.#state === 'down' || this.#closed) return;
    this.#state = 'down';
    const fallback = this.failClosed
      ? 'requests under shared rules fail with EAGAIN'
      : `each process keeps 1/${this.members} of every shared rule`;
    this.log(`${describe(this.#options.redis)} is unreachable (${reason}): ${fallback} until it is back`);
    for (const listener of this.#downListeners) listener();
  }

  onUp(listener: () => void): () => void {
    this.#upListeners.add(listener);
    return () => void this.#upListeners.delete(listener);
  }

  onDown(listener: () => void): () => void {
    this.#downListeners.add(listener);
    return () => void this.#downListeners.delete(listener);
  }

  /** Reserves a lease; resolves the microseconds until it may be spent. Rejects when Redis is away. */
  async reserve(bucket: string, usage: string, r: LeaseRequest): Promise<number> {
    const delay = await within(
      (this.#cmd!.shylockReserve as Script)(
        bucket,
        this.key('usage'),
        r.bytes,
        r.byteInterval,
        r.byteBurst,
        r.ops,
        r.opInterval,
        r.opBurst,
        usage,
      ),
      COMMAND_TIMEOUT_MS,
    );
    return Math.max(0, Number(delay));
  }

  /** Gives back units leased and not spent. Best effort: a failure only loses the give-back. */
  async giveBack(bucket: string, usage: string, bytes: number, byteInterval: number, ops: number, opInterval: number): Promise<void> {
    if (!this.up) return;
    await (this.#cmd!.shylockGiveBack as Script)(bucket, this.key('usage'), bytes, byteInterval, ops, opInterval, usage).catch(
      () => undefined,
    );
  }

  /** Cluster-wide leased totals, by usage name. */
  async usage(): Promise<Map<string, SharedUsage>> {
    const out = new Map<string, SharedUsage>();
    if (!this.up) return out;
    const all = await this.#cmd!.hgetall(this.key('usage')).catch(() => ({}) as Record<string, string>);
    for (const [field, value] of Object.entries(all)) {
      const at = field.lastIndexOf(':');
      const name = field.slice(0, at);
      const entry = out.get(name) ?? { bytes: 0, ops: 0 };
      if (field.slice(at + 1) === 'b') entry.bytes = Math.round(Number(value));
      else entry.ops = Math.round(Number(value));
      out.set(name, entry);
    }
    return out;
  }

  /** The shared rules, or undefined when Redis is away. */
  async loadRules(): Promise<QosRule[] | undefined> {
    await this.#ready;
    if (!this.up) return undefined;
    try {
      const all = await this.#cmd!.hgetall(this.key('rules'));
      return Object.values(all).map((text) => JSON.parse(text) as QosRule);
    } catch (e) {
      this.markDown(e);
      return undefined;
    }
  }

  /**
   * Changes the shared rules (some set, some removed, or all replaced) and tells every member.
   * False when Redis is away.
   */
  async writeRules(change: { set?: QosRule[]; remove?: string[]; replace?: QosRule[] }): Promise<boolean> {
    await this.#ready;
    if (!this.up) return false;
    try {
      const m = this.#cmd!.multi();
      const key = this.key('rules');
      const set = change.replace ?? change.set ?? [];
      if (change.replace) m.del(key);
      if (set.length > 0) m.hset(key, Object.fromEntries(set.map((r) => [r.path, JSON.stringify(r)])));
      if (change.remove?.length) m.hdel(key, ...change.remove);
      m.publish(key, this.id);
      await m.exec();
      return true;
    } catch (e) {
      this.markDown(e);
      return false;
    }
  }

  /**
   * Calls `changed` after another member changed the shared rules, and `reconnected` when the
   * subscription is made again (changes may have been missed meanwhile).
   */
  async watchRules(changed: () => void, reconnected: () => void): Promise<void> {
    if (this.#sub) return;
    await this.#ready;
    if (this.#closed) return;
    const sub = (this.#sub = (this.#cmd as unknown as RedisClientLike).duplicate({
      enableOfflineQueue: true,
    }) as Connection);
    sub.on('error', () => undefined);
    sub.on('message', (_channel: unknown, from: unknown) => {
      if (from !== this.id) changed();
    });
    let first = true;
    sub.on('ready', () => {
      if (!first) reconnected();
      first = false;
    });
    await sub.subscribe(this.key('rules')).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#ready.catch(() => undefined);
    this.#closed = true;
    clearInterval(this.#heartbeat);
    const cmd = this.#cmd;
    if (cmd && this.#state === 'up') await cmd.zrem(this.key('members'), this.id).catch(() => undefined);
    for (const c of [this.#sub, cmd]) {
      if (!c) continue;
      if (c.status === 'ready') await c.quit().catch(() => c.disconnect());
      else c.disconnect();
    }
  }
}
