import { ERRNO, MUTATING_METHODS, ShylockError, toShylockError } from '@shylock/core';
import type { Reply } from './binding.js';

/**
 * Operations that change the backend: they clear cached listings before and after. The Backend
 * methods the core table marks as mutating (utimes is FUSE's utimens), and the FUSE operations
 * that write through a handle.
 */
const MUTATING: ReadonlySet<string> = new Set([
  ...[...MUTATING_METHODS].map((m) => (m === 'utimes' ? 'utimens' : m)),
  'create',
  'write',
  'ftruncate',
  'flush',
  'release',
]);

export interface RequestOptions {
  /** The backend's name, for messages. */
  backend: string;
  /** Milliseconds before an operation answers ETIMEDOUT; 0 never. */
  timeoutMs: number;
  /** Milliseconds the event loop keeps polling after a request; 0 off. */
  pollMs: number;
  /** Sees every error answered to the kernel. */
  onError?: (error: ShylockError, op: string, path: string) => void;
  /** Called before and after every mutating operation. */
  onMutation?: () => void;
}

/** How an operation's result is answered: values after a 0, or a count (read, write). */
export type Answer<T> = ((value: T) => unknown[]) | 'count';

/**
 * Runs operations for the kernel: each answers once, with its result, its error as a negative
 * errno, or ETIMEDOUT past its deadline (the backend call runs on and its late answer is dropped).
 */
export class Requests {
  /** Operations in flight with a deadline; sweep() expires those past it, so none needs a timer. */
  private readonly inflight = new Set<{ deadline: number; expire: () => void }>();
  private lastRequest = 0;
  private polling = false;

  constructor(private readonly o: RequestOptions) {}

  /** The default deadline of an operation, ms (0: none). */
  get timeoutMs(): number {
    return this.o.timeoutMs;
  }

  /** The negative errno of an error, reported to onError. */
  errno(error: unknown, op: string, path: string): number {
    const e = toShylockError(error, { op, path, backend: this.o.backend });
    this.o.onError?.(e, op, path);
    return -(ERRNO[e.code] ?? ERRNO.EIO);
  }

  /** Answers ETIMEDOUT for operations past their deadline (called once a second). */
  sweep(now = performance.now()): void {
    for (const entry of this.inflight) if (entry.deadline <= now) entry.expire();
  }

  /**
   * Runs `work` and answers `cb`. `timeout` 0: no deadline (stream reads). `arm` false: the
   * request does not start adaptive polling.
   */
  call<T>(
    op: string,
    path: string,
    cb: Reply,
    work: () => Promise<T>,
    answer: Answer<T> = () => [],
    timeout = this.o.timeoutMs,
    arm = true,
  ): void {
    if (this.o.pollMs > 0 && arm) this.arm();
    const mutating = MUTATING.has(op);
    if (mutating) this.o.onMutation?.();
    let done = false;
    let entry: { deadline: number; expire: () => void } | undefined;
    if (timeout > 0) {
      const e = {
        deadline: performance.now() + timeout,
        expire: () => {
          if (done) return;
          done = true;
          this.inflight.delete(e);
          const error = new ShylockError('ETIMEDOUT', `${op} ${path}: no answer from ${this.o.backend} in ${timeout} ms`, {
            op,
            path,
            backend: this.o.backend,
          });
          cb(this.errno(error, op, path));
        },
      };
      entry = e;
      this.inflight.add(e);
    }
    let running: Promise<T>;
    try {
      running = work();
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => {
        if (mutating) this.o.onMutation?.(); // a listing that ran meanwhile may hold the old stat
        if (done) return;
        done = true;
        if (entry) this.inflight.delete(entry);
        if (answer === 'count') cb(value as number);
        else cb(0, ...answer(value));
      },
      (error: unknown) => {
        if (mutating) this.o.onMutation?.();
        if (done) return;
        done = true;
        if (entry) this.inflight.delete(entry);
        cb(this.errno(error, op, path));
      },
    );
  }

  /**
   * Adaptive polling: waking Node's idle event loop costs more than most requests. While requests
   * keep coming, a setImmediate chain keeps the loop polling, so the next request is seen at
   * once; it stops `pollMs` after the last one.
   */
  private arm(): void {
    this.lastRequest = performance.now();
    if (this.polling) return;
    this.polling = true;
    const poll = () => {
      if (performance.now() - this.lastRequest < this.o.pollMs) setImmediate(poll);
      else this.polling = false;
    };
    setImmediate(poll);
  }
}
