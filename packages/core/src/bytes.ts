import { ShylockError } from './errors.js';

/**
 * A growable byte array: the contents of an in-memory file or of a write buffer. Grows by
 * doubling, so appending n bytes costs O(n) amortised.
 */
export class ByteBuffer {
  #data: Uint8Array;
  #size: number;
  /** True while #data is memory the caller lent ({@link ByteBuffer.borrow}): copied before a change. */
  #borrowed = false;

  constructor(initial?: Uint8Array) {
    // A copy (a Buffer's own slice() would be a view of the caller's memory).
    this.#data = initial ? new Uint8Array(initial) : new Uint8Array(0);
    this.#size = this.#data.length;
  }

  /**
   * A buffer that reads `initial` in place and copies it only at its first change (copy on
   * write): for memory nobody changes afterwards, such as a value just fetched from a server.
   */
  static borrow(initial: Uint8Array): ByteBuffer {
    const b = new ByteBuffer();
    b.#data = initial;
    b.#size = initial.length;
    b.#borrowed = true;
    return b;
  }

  get size(): number {
    return this.#size;
  }

  /** Copies up to `target.length` bytes from `position`; returns how many (0 at or past the end). */
  read(target: Uint8Array, position: number): number {
    if (position >= this.#size) return 0;
    const n = Math.min(target.length, this.#size - position);
    target.set(this.#data.subarray(position, position + n));
    return n;
  }

  /** Writes `data` at `position`, zero-filling any gap; returns `data.length`. */
  write(data: Uint8Array, position: number): number {
    const end = position + data.length;
    this.#own(end);
    this.#reserve(end);
    if (position > this.#size) this.#data.fill(0, this.#size, position);
    this.#data.set(data, position);
    if (end > this.#size) this.#size = end;
    return data.length;
  }

  /** Shrinks or zero-extends to `size` bytes. */
  truncate(size: number): void {
    this.#own(size);
    if (size > this.#size) {
      this.#reserve(size);
      this.#data.fill(0, this.#size, size);
    } else if (size < this.#data.length >>> 2) {
      this.#data = this.#data.slice(0, Math.max(size, 64));
    }
    this.#size = size;
  }

  /** A view of the contents (valid until the next change). */
  view(): Uint8Array {
    return this.#data.subarray(0, this.#size);
  }

  /** A copy of the contents. */
  toBytes(): Uint8Array {
    return this.#data.slice(0, this.#size);
  }

  /** Before a change: a borrowed buffer becomes a copy of its own, with room for `capacity`. */
  #own(capacity: number): void {
    if (!this.#borrowed) return;
    const own = new Uint8Array(Math.max(capacity, this.#size));
    own.set(this.#data.subarray(0, Math.min(this.#size, own.length)));
    this.#data = own;
    this.#borrowed = false;
  }

  #reserve(capacity: number): void {
    if (capacity <= this.#data.length) return;
    let next = Math.max(this.#data.length * 2, 64);
    while (next < capacity) next *= 2;
    const grown = new Uint8Array(next);
    grown.set(this.#data.subarray(0, this.#size));
    this.#data = grown;
  }
}

/** Rejects a negative, fractional or non-finite size or position with EINVAL. */
export function checkOffset(value: number, what: string, op: string, path?: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ShylockError('EINVAL', `${op}: ${what} must be a non-negative integer, got ${value}`, { op, path });
  }
}
