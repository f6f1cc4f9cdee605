import { abortError, ShylockError, type Limits } from '@shylock/core';
import { SharedStore, type SharedOptions } from './shared.js';
import { SharedLimiter } from './shared-limiter.js';

/** One FUSE request: the smallest default byte burst, so a full-size request never waits on burst alone. */
export const MIN_BYTE_BURST = 128 * 1024;
/** Default burst, as seconds of the configured rate. */
export const DEFAULT_BURST_SECONDS = 0.05;

/** Options of {@link createLimiter}. A missing or 0 rate is unlimited. */
export interface LimiterOptions {
  bytesPerSecond?: number;
  opsPerSecond?: number;
  /**
   * What may be spent at once after an idle spell: seconds of the rate (a number) or explicit
   * `{ bytes, ops }`. Default: max(128 KiB, 50 ms) of bytes and max(1, 50 ms) of ops.
   */
  burst?: Limits['burst'];
  /**
   * Share this budget with every process (on any host) naming the same Redis, namespace and
   * `key` (default `default`): see the README's "One budget for a fleet". Only read by
   * {@link createLimiter}; {@link Limiter.close} ends the connection.
   */
  shared?: SharedOptions & { key?: string };
}

/** Options of {@link Limiter.acquire}. */
export interface LimiterAcquireOptions {
  /** Operations this request counts as (default 1). */
  ops?: number;
  /** Give up waiting: rejects ECANCELED and gives the place in line back. */
  signal?: AbortSignal;
}

/** Counters of a limiter since it was made. */
export interface LimiterStats {
  /** Bytes granted. */
  bytes: number;
  /** Operations granted. */
  ops: number;
  /** Requests granted. */
  grants: number;
  /** Total time requests spent waiting, in seconds. */
  waitSeconds: number;
  /** Requests waiting now. */
  queued: number;
}

/** A rate limiter for bytes and operations (GCRA, virtual time, FIFO waiters). */
export interface Limiter {
  /**
   * Resolves when `bytes` bytes and `options.ops` (default 1) operations may be spent. Waiters
   * are served in arrival order. A request larger than the burst waits for a full bucket and then
   * borrows: it passes, and later callers wait for the debt. Rejects ECANCELED when aborted and
   * EINVAL for a negative or non-finite amount.
   */
  acquire(bytes?: number, options?: LimiterAcquireOptions): Promise<void>;
  /**
   * Takes the amount now and returns true, or returns false and takes nothing. Never jumps the
   * queue: false while others are waiting. A request larger than the burst is granted once the
   * bucket is full (it borrows); `borrow` false refuses it instead (prepaid credit).
   */
  tryAcquire(bytes?: number, ops?: number, borrow?: boolean): boolean;
  /**
   * Gives back what a grant took and was not spent (prepaid I/O left unused), as if it had never
   * been taken; waiters may then be served sooner.
   */
  refund(bytes?: number, ops?: number): void;
  /** Changes the rates at once; waiters are rescheduled to the new rates, debt carried over. */
  update(options: LimiterOptions): void;
  /** Releases every waiter (they resolve) and stops limiting: for a rule that was removed. */
  release(): void;
  readonly options: Readonly<LimiterOptions>;
  stats(): LimiterStats;
  /** Releases the waiters; a shared limiter also gives back its unused credit and disconnects. */
  close(): Promise<void>;
}

/** Rejects a value that is not a non-negative finite number, naming the option. */
export function checkRate(value: unknown, what: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ShylockError(
      'EINVAL',
      `${what} must be a non-negative number (0 = unlimited), got ${typeof value === 'string' ? `"${value}"` : String(value)}`,
      { op: 'qos' },
    );
  }
  return value;
}

/** Checks `burst`: a non-negative number of seconds or `{ bytes, ops }`. */
export function checkBurst(burst: unknown, what = 'burst'): Limits['burst'] {
  if (burst === undefined || burst === null) return undefined;
  if (typeof burst === 'number') {
    checkRate(burst, `${what} (seconds)`);
    return burst;
  }
  if (typeof burst === 'object') {
    const { bytes, ops } = burst as { bytes?: unknown; ops?: unknown };
    return {
      ...(bytes === undefined ? {} : { bytes: checkRate(bytes, `${what}.bytes`) }),
      ...(ops === undefined ? {} : { ops: checkRate(ops, `${what}.ops`) }),
    };
  }
  throw new ShylockError('EINVAL', `${what} must be a number of seconds or { bytes, ops }, got ${String(burst)}`);
}

/**
 * One dimension (bytes or ops) as a GCRA: `tat` is the theoretical arrival time in ms. A request
 * of n units may start once `tat - (burst - n) * interval <= now`, and moves `tat` on by
 * `n * interval`. Time is virtual, so timer lateness does not lower the long-run rate.
 */
class Bucket {
  /** Milliseconds per unit; 0 = unlimited. */
  interval = 0;
  /** Units that may be spent at once. */
  burst = 0;
  tat = 0;

  configure(rate: number, burst: number, now: number): void {
    const oldInterval = this.interval;
    this.interval = rate > 0 ? 1000 / rate : 0;
    this.burst = burst;
    // Carry debt over in units: what was owed at the old rate is owed at the new one.
    if (oldInterval > 0 && this.interval > 0 && this.tat > now) {
      this.tat = now + ((this.tat - now) / oldInterval) * this.interval;
    } else if (this.interval === 0 || this.tat < now) {
      this.tat = now;
    }
  }

  startAt(n: number): number {
    if (this.interval === 0 || n === 0) return -Infinity;
    return this.tat - Math.max(0, this.burst - n) * this.interval;
  }

  /** True when n units fit in the burst: taking them needs no borrowing. */
  fits(n: number): boolean {
    return this.interval === 0 || n <= this.burst;
  }

  commit(n: number, now: number): void {
    if (this.interval === 0 || n === 0) return;
    this.tat = Math.max(this.tat, now) + n * this.interval;
  }

  /** Undoes a commit of n units; a full bucket stays full (no credit beyond the burst). */
  uncommit(n: number, now: number): void {
    if (this.interval === 0 || n === 0) return;
    this.tat = Math.max(now, this.tat - n * this.interval);
  }
}

interface Waiter {
  bytes: number;
  ops: number;
  since: number;
  resolve: () => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const RESOLVED: Promise<void> = Promise.resolve();
/** Timers fire on whole milliseconds; a waiter due within this much is served now. */
const SLACK_MS = 0.5;

/** A byte rate's burst in bytes. */
export function byteBurst(rate: number, burst: Limits['burst']): number {
  if (typeof burst === 'object' && burst.bytes) return burst.bytes;
  const seconds = typeof burst === 'number' && burst > 0 ? burst : DEFAULT_BURST_SECONDS;
  return Math.max(MIN_BYTE_BURST, rate * seconds);
}

/** An op rate's burst in ops. */
export function opBurst(rate: number, burst: Limits['burst']): number {
  if (typeof burst === 'object' && burst.ops) return burst.ops;
  const seconds = typeof burst === 'number' && burst > 0 ? burst : DEFAULT_BURST_SECONDS;
  return Math.max(1, rate * seconds);
}

class GcraLimiter implements Limiter {
  #bytes = new Bucket();
  #ops = new Bucket();
  #options: LimiterOptions = {};
  #queue: Waiter[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  #released = false;
  #stats = { bytes: 0, ops: 0, grants: 0, waitMs: 0 };

  constructor(options: LimiterOptions) {
    this.update(options);
  }

  get options(): Readonly<LimiterOptions> {
    return this.#options;
  }

  acquire(bytes = 0, options?: LimiterAcquireOptions): Promise<void> {
    const ops = options?.ops ?? 1;
    if (!(bytes >= 0 && bytes !== Infinity) || !(ops >= 0 && ops !== Infinity)) {
      return Promise.reject(
        new ShylockError('EINVAL', `acquire: bytes and ops must be non-negative numbers, got ${bytes} and ${ops}`, {
          op: 'acquire',
        }),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal, { op: 'acquire' }));
    if (this.#head === this.#queue.length) {
      const now = performance.now();
      if (this.#ready(bytes, ops, now)) {
        this.#grant(bytes, ops, now);
        return RESOLVED;
      }
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { bytes, ops, since: performance.now(), resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => this.#abort(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      if (this.#queue.length - this.#head === 1) this.#schedule();
    });
  }

  tryAcquire(bytes = 0, ops = 1, borrow = true): boolean {
    if (this.#head !== this.#queue.length) return false;
    if (!borrow && !(this.#bytes.fits(bytes) && this.#ops.fits(ops))) return false;
    const now = performance.now();
    if (!this.#ready(bytes, ops, now)) return false;
    this.#grant(bytes, ops, now);
    return true;
  }

  refund(bytes = 0, ops = 0): void {
    if (!(bytes > 0 || ops > 0)) return;
    const now = performance.now();
    this.#bytes.uncommit(Math.max(0, bytes), now);
    this.#ops.uncommit(Math.max(0, ops), now);
    this.#stats.bytes -= Math.min(this.#stats.bytes, Math.max(0, bytes));
    this.#stats.ops -= Math.min(this.#stats.ops, Math.max(0, ops));
    if (this.#head !== this.#queue.length) this.#schedule();
  }

  update(options: LimiterOptions): void {
    const bytesPerSecond = checkRate(options.bytesPerSecond, 'bytesPerSecond');
    const opsPerSecond = checkRate(options.opsPerSecond, 'opsPerSecond');
    const burst = checkBurst(options.burst);
    this.#options = { bytesPerSecond, opsPerSecond, ...(burst === undefined ? {} : { burst }) };
    this.#released = false;
    const now = performance.now();
    this.#bytes.configure(bytesPerSecond, byteBurst(bytesPerSecond, burst), now);
    this.#ops.configure(opsPerSecond, opBurst(opsPerSecond, burst), now);
    this.#schedule();
  }

  release(): void {
    this.#released = true;
    this.#bytes.configure(0, 0, 0);
    this.#ops.configure(0, 0, 0);
    this.#schedule();
  }

  async close(): Promise<void> {
    this.release();
  }

  stats(): LimiterStats {
    const s = this.#stats;
    return {
      bytes: s.bytes,
      ops: s.ops,
      grants: s.grants,
      waitSeconds: s.waitMs / 1000,
      queued: this.#queue.length - this.#head,
    };
  }

  #ready(bytes: number, ops: number, now: number): boolean {
    return this.#released || Math.max(this.#bytes.startAt(bytes), this.#ops.startAt(ops)) <= now + SLACK_MS;
  }

  #grant(bytes: number, ops: number, now: number): void {
    this.#bytes.commit(bytes, now);
    this.#ops.commit(ops, now);
    this.#stats.bytes += bytes;
    this.#stats.ops += ops;
    this.#stats.grants++;
  }

  /** Serves every waiter whose time has come, in order, then sets one timer for the next. */
  #schedule = (): void => {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const now = performance.now();
    while (this.#head < this.#queue.length) {
      const w = this.#queue[this.#head]!;
      if (!this.#ready(w.bytes, w.ops, now)) {
        const at = Math.max(this.#bytes.startAt(w.bytes), this.#ops.startAt(w.ops));
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        this.#timer = setTimeout(this.#schedule, Math.max(1, Math.ceil(at - now)));
        return;
      }
      this.#queue[this.#head++] = undefined as unknown as Waiter;
      this.#grant(w.bytes, w.ops, now);
      this.#stats.waitMs += now - w.since;
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
    this.#queue = [];
    this.#head = 0;
  };

  #abort(waiter: Waiter): void {
    const i = this.#queue.indexOf(waiter, this.#head);
    if (i === -1) return;
    this.#queue.splice(i, 1);
    waiter.reject(abortError(waiter.signal!, { op: 'acquire' }));
    if (i === this.#head) this.#schedule();
  }
}

/**
 * Makes a limiter of bytes and operations per second.
 *
 * ```ts
 * const limiter = createLimiter({ bytesPerSecond: 1 << 20, opsPerSecond: 100 });
 * await limiter.acquire(chunk.length);
 * ```
 *
 * @throws ShylockError `EINVAL` for a negative, NaN or non-numeric rate or burst.
 */
export function createLimiter(options: LimiterOptions = {}): Limiter {
  const { shared, ...limits } = options;
  if (!shared) return new GcraLimiter(limits);
  const key = shared.key ?? 'default';
  if (typeof key !== 'string' || key === '') throw new ShylockError('EINVAL', 'shared.key must be a non-empty string');
  const store = new SharedStore(shared);
  const limiter = new SharedLimiter(store, `limiter:${key}`, limits);
  const close = limiter.close.bind(limiter);
  limiter.close = async () => {
    await close();
    await store.close();
  };
  return limiter;
}
