import { Transform, type TransformCallback } from 'node:stream';
import type { Acquirer } from './policy.js';

/** Options of {@link throttle}. */
export interface ThrottleOptions {
  /** Chunks are cut to at most this many bytes so the pace stays smooth (default 16 KiB). */
  chunkSize?: number;
  /** Count each chunk passed as one operation (default false: only bytes count). */
  countOps?: boolean;
}

/**
 * A Transform stream that passes bytes on no faster than `limiter` allows:
 * `readable.pipe(throttle(limiter)).pipe(res)`. Works with a {@link Limiter} or with
 * `policy.bind(path, 'read')`. Destroying the stream abandons its wait.
 */
export function throttle(limiter: Acquirer, options: ThrottleOptions = {}): Transform {
  const chunkSize = options.chunkSize ?? 16 * 1024;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`throttle: chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const ops = options.countOps ? 1 : 0;
  const abort = new AbortController();
  return new Transform({
    async transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      try {
        for (let at = 0; at < chunk.length; at += chunkSize) {
          const piece = chunk.subarray(at, at + chunkSize);
          await limiter.acquire(piece.length, { ops, signal: abort.signal });
          this.push(piece);
        }
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    destroy(error, callback) {
      abort.abort();
      callback(error);
    },
  });
}
