/**
 * The QoS interfaces. `@shylock/qos` implements them; the FUSE adapter and layers only need these
 * shapes, so they live in core.
 */

/** Which budget an operation draws from. */
export type AccessKind = 'read' | 'write';

/**
 * Rates of one rule. A missing or `0` limit means unlimited. Units are bytes and operations per
 * second.
 */
export interface Limits {
  readBytesPerSec?: number;
  writeBytesPerSec?: number;
  readOpsPerSec?: number;
  writeOpsPerSec?: number;
  /**
   * How much may be spent at once after an idle spell, in seconds of the rate (a number) or in
   * bytes and operations (an object). Default: the larger of 128 KiB (one FUSE request) and
   * 50 ms of the byte rate; the larger of 1 op and 50 ms of the op rate.
   */
  burst?: number | { bytes?: number; ops?: number };
}

/** A QoS rule: limits shared by everything under `path` (whole path segments). */
export interface QosRule extends Limits {
  path: string;
}

/** Options of {@link QosPolicy.acquire}. */
export interface AcquireOptions {
  /** How many operations this request counts as (default 1). */
  ops?: number;
  /** Abandon the wait: the promise rejects ECANCELED and the place in line is given back. */
  signal?: AbortSignal;
}

/** A policy bound to one path and kind, with the rule lookup done once (see {@link QosPolicy.bind}). */
export interface QosBinding {
  /** As {@link QosPolicy.acquire} for the bound path and kind. */
  acquire(bytes?: number, options?: AcquireOptions): Promise<void>;
  /**
   * Takes the amount now and returns true, or returns false having taken nothing. With `borrow`
   * false, an amount larger than the rule's burst is refused instead of borrowed.
   */
  tryAcquire(bytes?: number, ops?: number, borrow?: boolean): boolean;
  /**
   * Gives back what `tryAcquire` took and was not spent (prepaid I/O left unused), as if it had
   * never been taken. Dropped when the rules changed since.
   */
  refund?(bytes: number, ops: number): void;
}

/**
 * A set of path rules. Every rule whose path is a prefix of the request's path applies, so a
 * child can't exceed its parent.
 */
export interface QosPolicy {
  /**
   * Resolves when `bytes` bytes and `options.ops` (default 1) operations may be spent on `path`.
   * Rejects ECANCELED when aborted.
   */
  acquire(path: string, kind: AccessKind, bytes: number, options?: AcquireOptions): Promise<void>;
  /**
   * The rules of `path` for `kind`, looked up once: an open file keeps its binding. Rule changes
   * still apply at once (the binding looks again when the rules changed).
   */
  bind(path: string, kind: AccessKind): QosBinding;
  /** True when the rules apply to no path at all (nothing to wait for). */
  readonly empty: boolean;
  /** Calls `listener` after every change of the rules; returns the unsubscribe function. */
  onChange?(listener: () => void): () => void;
}
