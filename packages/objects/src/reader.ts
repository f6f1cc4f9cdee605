import type { ObjectStore } from './store.js';

interface Block {
  start: number;
  end: number;
  data: Promise<Uint8Array>;
}

/** Options of {@link ObjectReader}. */
export interface ReaderOptions {
  /** Most bytes fetched ahead of a sequential reader (the window grows to this). */
  readAhead: number;
  /** Largest single ranged GET of a sequential read. */
  chunk: number;
  /** Objects up to this size are fetched whole at their first read. */
  whole: number;
}

/** The first read-ahead window, once a reader has gone on where it stopped twice in a row. */
const FIRST_WINDOW = 256 << 10;
/** Sequential reads in a row before reading ahead: two reads next to each other may be chance. */
const STREAK = 2;

/**
 * Reads one version of an object with ranged GETs. A reader that goes on where it stopped gets
 * read-ahead: a window of ranges fetched in parallel, doubling with each sequential read up to
 * `readAhead`; a read elsewhere fetches just what it asks for and resets the window. Every GET
 * names the version (`etag`), so a change by another client fails the read (EIO) rather than
 * mixing two versions' bytes.
 */
export class ObjectReader {
  readonly #store: ObjectStore;
  readonly #key: string;
  readonly #size: number;
  readonly #etag: string | undefined;
  readonly #o: ReaderOptions;
  #blocks: Block[] = [];
  /** Where a sequential read would start next. */
  #next = 0;
  #window = 0;
  #streak = 0;
  /** Bytes fetched from the store, for tests and metrics. */
  fetched = 0;

  constructor(store: ObjectStore, key: string, size: number, etag: string | undefined, options: ReaderOptions) {
    this.#store = store;
    this.#key = key;
    this.#size = size;
    this.#etag = etag;
    this.#o = options;
  }

  get size(): number {
    return this.#size;
  }

  async read(target: Uint8Array, position: number): Promise<number> {
    if (position >= this.#size || target.length === 0) return 0;
    const end = Math.min(this.#size, position + target.length);
    const sequential = position === this.#next;
    if (sequential) {
      this.#streak++;
      if (this.#streak >= STREAK) this.#window = Math.min(this.#o.readAhead, this.#window === 0 ? FIRST_WINDOW : this.#window * 2);
      // What was read is not read again by a sequential reader.
      this.#blocks = this.#blocks.filter((b) => b.end > position);
    } else {
      this.#window = 0;
      this.#streak = 0;
      this.#blocks = this.#blocks.filter((b) => b.end > position && b.start < end);
    }
    if (position === 0 && this.#size <= this.#o.whole) this.#fetch(0, this.#size);
    this.#cover(position, end, sequential ? Math.min(this.#size, Math.max(end, position + this.#window)) : end);
    let at = position;
    for (const b of this.#blocks) {
      if (b.end <= at) continue;
      if (b.start > at) break;
      const data = await b.data;
      const to = Math.min(end, b.end);
      target.set(data.subarray(at - b.start, to - b.start), at - position);
      at = to;
      if (at >= end) break;
    }
    if (at !== end) throw new Error(`read ${this.#key}: ${at - position} of ${end - position} bytes came back`);
    this.#next = end;
    return end - position;
  }

  /** Fetches what no block holds between `position` and `ahead` (at least up to `end`). */
  #cover(position: number, end: number, ahead: number): void {
    let at = position;
    const chunk = end === ahead ? Number.POSITIVE_INFINITY : Math.max(FIRST_WINDOW, Math.min(this.#o.chunk, this.#window / 4));
    for (const b of [...this.#blocks]) {
      if (b.end <= at) continue;
      if (b.start >= ahead) break;
      for (; at < b.start; ) at = this.#fetch(at, Math.min(b.start, at + chunk));
      at = Math.max(at, b.end);
    }
    while (at < ahead) at = this.#fetch(at, Math.min(ahead, at + chunk));
  }

  /** Starts a GET of [start, end) unless a block already starts there; returns `end`. */
  #fetch(start: number, end: number): number {
    if (start >= end || this.#blocks.some((b) => b.start <= start && b.end >= end)) return end;
    const data = this.#store.read(this.#key, start, end, this.#etag === undefined ? {} : { etag: this.#etag });
    const block: Block = { start, end, data };
    this.fetched += end - start;
    // A block nobody awaits any more must not fail unhandled; one that failed is fetched again.
    data.catch(() => {
      this.#blocks = this.#blocks.filter((b) => b !== block);
    });
    const i = this.#blocks.findIndex((b) => b.start > start);
    if (i === -1) this.#blocks.push(block);
    else this.#blocks.splice(i, 0, block);
    return end;
  }

  /** Drops what was fetched (the handle closed). */
  release(): void {
    this.#blocks = [];
  }
}
