import { abortError, ShylockError } from '@shylock/core';
import {
  byteBurst,
  checkBurst,
  checkRate,
  createLimiter,
  opBurst,
  type Limiter,
  type LimiterAcquireOptions,
  type LimiterOptions,
  type LimiterStats,
} from './limiter.js';
import type { LeaseRequest, SharedStore } from './shared.js';

/**
 * A lease covers about this much of a process's recent rate: the busier a process, the fewer
 * round trips to Redis per byte.
 */
export const LEASE_SECONDS = 0.05;
/** Credit left unused this long goes back to the cluster. */
export const IDLE_GIVE_BACK_MS = 100;
const EPSILON = 1e-9;

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

/**
 * A limiter whose budget lives in Redis and is shared by every process using the same key.
 * Requests are served from local credit, leased from the shared GCRA in chunks: at least what the
 * first waiter lacks, about {@link LEASE_SECONDS} of this process's recent rate, at most the
 * burst ÷ the number of members (so a process holds at most that much unused credit, and a
 * quiet process waits behind at most one lease of each busy one). Reservations queue in Redis in
 * the order they were asked (one outstanding per process), so busy processes share the rate
 * equally. Credit unused for {@link IDLE_GIVE_BACK_MS} is given back. While Redis is away, leases
 * come from a local limiter at rate ÷ members (or requests reject EAGAIN, as the store says).
 */
export class SharedLimiter implements Limiter {
  #store: SharedStore;
  #bucket: string;
  #usage: string;
  #options: LimiterOptions = {};
  #params: Omit<LeaseRequest, 'bytes' | 'ops'> = { byteInterval: 0, opInterval: 0, byteBurst: 0, opBurst: 0 };
  #credit = { bytes: 0, ops: 0 };
  #used = { bytes: 0, ops: 0 };
  #lastLease = performance.now();
  #lastUse = 0;
  #queue: Waiter[] = [];
  #head = 0;
  #pumping = false;
  #wake: (() => void) | undefined;
  #idle: NodeJS.Timeout | undefined;
  #released = false;
  #fallback: Limiter | undefined;
  #fallbackMembers = 0;
  #stats = { bytes: 0, ops: 0, grants: 0, waitMs: 0, leases: 0 };

  constructor(store: SharedStore, name: string, options: LimiterOptions) {
    this.#store = store;
    this.#bucket = store.key('bucket', name);
    this.#usage = name;
    this.update(options);
  }

  get options(): Readonly<LimiterOptions> {
    return this.#options;
  }

  /** Leases taken from Redis (or the fallback) since the limiter was made: round trips. */
  get leases(): number {
    return this.#stats.leases;
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
    if (this.#head === this.#queue.length && this.#take(bytes, ops)) return RESOLVED;
    if (this.#store.failClosed && this.#store.down) return Promise.reject(this.#unavailable());
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { bytes, ops, since: performance.now(), resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => this.#abort(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      void this.#pump();
    });
  }

  tryAcquire(bytes = 0, ops = 1): boolean {
    return this.#head === this.#queue.length && this.#take(bytes, ops);
  }

  refund(bytes = 0, ops = 0): void {
    if (!(bytes > 0 || ops > 0)) return;
    if (this.#params.byteInterval > 0) this.#credit.bytes += Math.max(0, bytes);
    if (this.#params.opInterval > 0) this.#credit.ops += Math.max(0, ops);
    this.#stats.bytes -= Math.min(this.#stats.bytes, Math.max(0, bytes));
    this.#stats.ops -= Math.min(this.#stats.ops, Math.max(0, ops));
    this.#serve();
    this.#armIdle();
  }

  update(options: LimiterOptions): void {
    const bytesPerSecond = checkRate(options.bytesPerSecond, 'bytesPerSecond');
    const opsPerSecond = checkRate(options.opsPerSecond, 'opsPerSecond');
    const burst = checkBurst(options.burst);
    this.#options = { bytesPerSecond, opsPerSecond, ...(burst === undefined ? {} : { burst }) };
    this.#released = false;
    this.#params = {
      byteInterval: bytesPerSecond > 0 ? 1e6 / bytesPerSecond : 0,
      opInterval: opsPerSecond > 0 ? 1e6 / opsPerSecond : 0,
      byteBurst: bytesPerSecond > 0 ? byteBurst(bytesPerSecond, burst) : 0,
      opBurst: opsPerSecond > 0 ? opBurst(opsPerSecond, burst) : 0,
    };
    if (bytesPerSecond === 0) this.#credit.bytes = 0;
    if (opsPerSecond === 0) this.#credit.ops = 0;
    this.#fallbackMembers = 0;
    // A lease being waited for counts as granted: the new rates apply to the next one.
    this.#wake?.();
    this.#serve();
    if (this.#head !== this.#queue.length) void this.#pump();
  }

  release(): void {
    this.#released = true;
    this.#wake?.();
    this.#serve();
    this.#giveBack();
  }

  /** Releases the waiters and gives back what is held. */
  async close(): Promise<void> {
    this.release();
    clearTimeout(this.#idle);
  }

  stats(): LimiterStats {
    const s = this.#stats;
    return { bytes: s.bytes, ops: s.ops, grants: s.grants, waitSeconds: s.waitMs / 1000, queued: this.#queue.length - this.#head };
  }

  #unavailable(): ShylockError {
    return new ShylockError('EAGAIN', 'the shared QoS store (Redis) is unreachable and shared rules fail closed: try again', {
      op: 'acquire',
    });
  }

  /** Takes from local credit; false (nothing taken) when it does not cover the request. */
  #take(bytes: number, ops: number): boolean {
    const b = this.#released || this.#params.byteInterval === 0 ? 0 : bytes;
    const o = this.#released || this.#params.opInterval === 0 ? 0 : ops;
    if (this.#credit.bytes + EPSILON < b || this.#credit.ops + EPSILON < o) return false;
    this.#credit.bytes = Math.max(0, this.#credit.bytes - b);
    this.#credit.ops = Math.max(0, this.#credit.ops - o);
    this.#used.bytes += b;
    this.#used.ops += o;
    this.#stats.bytes += bytes;
    this.#stats.ops += ops;
    this.#stats.grants++;
    this.#lastUse = performance.now();
    if (b > 0 || o > 0) this.#armIdle();
    return true;
  }

  /** Serves waiters in order while credit lasts. */
  #serve(): void {
    while (this.#head < this.#queue.length) {
      const w = this.#queue[this.#head]!;
      if (!this.#take(w.bytes, w.ops)) break;
      this.#queue[this.#head++] = undefined as unknown as Waiter;
      this.#stats.waitMs += performance.now() - w.since;
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** What to lease for the first waiter: what it lacks, or more for a busy process, capped. */
  #leaseFor(w: Waiter): LeaseRequest {
    const members = Math.max(1, this.#store.members);
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.#lastLease) / 1000);
    const p = this.#params;
    const size = (need: number, used: number, burst: number) =>
      need <= EPSILON ? 0 : Math.max(need, Math.min(burst / members, (used / seconds) * LEASE_SECONDS));
    const bytes = p.byteInterval > 0 ? size(w.bytes - this.#credit.bytes, this.#used.bytes, p.byteBurst) : 0;
    const ops = p.opInterval > 0 ? size(w.ops - this.#credit.ops, this.#used.ops, p.opBurst) : 0;
    this.#lastLease = now;
    this.#used = { bytes: 0, ops: 0 };
    return { ...p, bytes, ops };
  }

  /** The local limiter of the fallback: this rule's rate ÷ the members last seen. */
  #fallbackLimiter(): Limiter {
    const members = Math.max(1, this.#store.members);
    if (!this.#fallback || this.#fallbackMembers !== members) {
      const share = {
        bytesPerSecond: (this.#options.bytesPerSecond ?? 0) / members,
        opsPerSecond: (this.#options.opsPerSecond ?? 0) / members,
      };
      if (this.#fallback) this.#fallback.update(share);
      else this.#fallback = createLimiter(share);
      this.#fallbackMembers = members;
    }
    return this.#fallback;
  }

  /** Leases credit until every waiter is served: one lease outstanding at a time. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#released) {
        this.#serve();
        const w = this.#queue[this.#head];
        if (!w) break;
        if (!this.#store.up && !this.#store.down) await this.#store.ready().catch(() => undefined);
        if (this.#store.down) {
          if (this.#store.failClosed) {
            this.#rejectAll(this.#unavailable());
            break;
          }
          const lease = this.#leaseFor(w);
          await this.#fallbackLimiter().acquire(lease.bytes, { ops: lease.ops });
          this.#add(lease);
          continue;
        }
        const lease = this.#leaseFor(w);
        let delayUs: number;
        try {
          delayUs = await this.#store.reserve(this.#bucket, this.#usage, lease);
        } catch (e) {
          // Not granted: the fallback serves it.
          this.#store.markDown(e);
          continue;
        }
        if (delayUs >= 500) await this.#sleep(delayUs / 1000);
        this.#add(lease);
      }
    } finally {
      this.#pumping = false;
      this.#armIdle();
    }
  }

  #add(lease: LeaseRequest): void {
    this.#stats.leases++;
    this.#credit.bytes += lease.bytes;
    this.#credit.ops += lease.ops;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #rejectAll(error: ShylockError): void {
    const waiting = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    for (const w of waiting) {
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      w.reject(error);
    }
  }

  /** Gives unused credit back after an idle spell. */
  #armIdle(): void {
    if (this.#idle || (this.#credit.bytes <= EPSILON && this.#credit.ops <= EPSILON)) return;
    this.#idle = setTimeout(() => {
      this.#idle = undefined;
      if (this.#pumping || this.#head !== this.#queue.length) return;
      const idleFor = performance.now() - this.#lastUse;
      if (idleFor >= IDLE_GIVE_BACK_MS) this.#giveBack();
      else this.#armIdle();
    }, IDLE_GIVE_BACK_MS);
    this.#idle.unref();
  }

  #giveBack(): void {
    const { bytes, ops } = this.#credit;
    if (bytes <= EPSILON && ops <= EPSILON) return;
    this.#credit = { bytes: 0, ops: 0 };
    if (this.#store.up) {
      const p = this.#params;
      void this.#store.giveBack(this.#bucket, this.#usage, bytes, p.byteInterval, ops, p.opInterval);
    } else {
      this.#fallback?.refund(bytes, ops);
    }
  }

  #abort(waiter: Waiter): void {
    const i = this.#queue.indexOf(waiter, this.#head);
    if (i === -1) return;
    this.#queue.splice(i, 1);
    waiter.reject(abortError(waiter.signal!, { op: 'acquire' }));
    if (i === this.#head) this.#serve();
  }
}
