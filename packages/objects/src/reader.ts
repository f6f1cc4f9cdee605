import type { ObjectStore } from './store.js';

interface Block {
  start: number;
  end: number;
  data: Promise<Uint8Array>;
}

/** One GET streaming the object from `at` on, consumed as the reader goes. */
interface Flow {
  /** Offset of the first byte held in `queue`. */
  at: number;
  /** Offset after the last byte received. */
  end: number;
  queue: Uint8Array[];
  source: AsyncIterator<Uint8Array>;
  pulling: Promise<void> | undefined;
  pumping: boolean;
  done: boolean;
  error?: unknown;
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
/** How far past the last read's end a read still counts as in order. */
const NEAR = 2 << 20;

/**
 * Reads one version of an object with ranged GETs. A read elsewhere than where the last one
 * ended fetches just what it asks for. A reader that goes on where it stopped (twice in a row)
 * gets read-ahead: with a store that streams, one GET from there to the end whose bytes are
 * taken as they arrive and kept up to a window ahead of the reader (the connection waits while
 * the window is full); without, a window of ranges fetched in parallel. The window doubles
 * with each read in order up to `readAhead`. Every GET names the version (`etag`), so a change
 * by another client fails the read (EIO) rather than mixing two versions' bytes.
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
  #flow: Flow | undefined;
  /** A stream being opened, and where it starts: reads just past it wait for it, not a stream of their own. */
  #opening: { at: number; flow: Promise<Flow> } | undefined;
  /** Reads under way, by start: what the stream still holds for them is kept. */
  readonly #reading = new Map<number, number>();

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
    // In order: where the last read ended, or a little past it while reading ahead (the kernel
    // sends the next read before the last one is answered, and may skip ahead by its own window).
    const sequential = position === this.#next || (this.#window > 0 && Math.abs(position - this.#next) <= NEAR);
    this.#next = Math.max(end, sequential ? this.#next : 0);
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
    else if (sequential && this.#window > 0 && this.#store.stream) return this.#fromFlow(target, position, end);
    this.#stop();
    this.#cover(position, end);
    if (sequential && this.#window > 0) this.#ahead(position);
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
    return end - position;
  }

  /** Fetches what no block holds between `position` and `end`, each gap in one GET. */
  #cover(position: number, end: number): void {
    let at = position;
    for (const b of [...this.#blocks]) {
      if (b.end <= at) continue;
      if (b.start >= end) break;
      if (at < b.start) this.#fetch(at, b.start);
      at = Math.max(at, b.end);
    }
    if (at < end) this.#fetch(at, end);
  }

  /**
   * Keeps a window of GETs running ahead of a sequential reader: when less than half the window
   * is fetched or on its way beyond `position`, whole chunks are started up to the window's end.
   */
  #ahead(position: number): void {
    let covered = position;
    for (const b of this.#blocks) if (b.start <= covered && b.end > covered) covered = b.end;
    const until = Math.min(this.#size, position + this.#window);
    if (covered >= until || covered - position >= this.#window / 2) return;
    const chunk = Math.max(FIRST_WINDOW, Math.min(this.#o.chunk, this.#window / 4));
    for (let at = covered; at < until; at += chunk) this.#fetch(at, Math.min(this.#size, at + chunk));
  }

  /** Starts a GET of [start, end) unless a block already starts there; returns `end`. */
  #fetch(start: number, end: number): number {
    if (start >= end || this.#blocks.some((b) => b.start <= start && b.end >= end)) return end;
    const data = this.#store.read(this.#key, start, end, this.#etag === undefined ? {} : { etag: this.#etag });
    const block: Block = { start, end, data };
    // A block nobody awaits any more must not fail unhandled; one that failed is fetched again.
    data.catch(() => {
      this.#blocks = this.#blocks.filter((b) => b !== block);
    });
    const i = this.#blocks.findIndex((b) => b.start > start);
    if (i === -1) this.#blocks.push(block);
    else this.#blocks.splice(i, 0, block);
    return end;
  }

  /** Serves a read in order from the stream, starting one where there is none to go on with. */
  async #fromFlow(target: Uint8Array, position: number, end: number): Promise<number> {
    let flow = this.#flow;
    if (!flow || position < flow.at || position > flow.end + NEAR) {
      const opening = this.#opening;
      // The kernel sends the next read before the first one is answered: it joins that stream.
      if (opening && position >= opening.at && position <= opening.at + NEAR) flow = await opening.flow;
      else flow = await this.#open(position);
    }
    this.#reading.set(position, (this.#reading.get(position) ?? 0) + 1);
    try {
      while (flow.end < end && !flow.done) await this.#pull(flow);
      if (flow.end < end || position < flow.at) {
        // The stream was ended under this read (a jump elsewhere) or failed: fetch the range
        // itself; a real failure fails that too.
        target.set(await this.#store.read(this.#key, position, end, this.#etag === undefined ? {} : { etag: this.#etag }));
        return end - position;
      }
      // Copy out [position, end) from the chunks held.
      let chunkAt = flow.at;
      for (const chunk of flow.queue) {
        const chunkEnd = chunkAt + chunk.length;
        if (chunkEnd > position && chunkAt < end) {
          const from = Math.max(position, chunkAt);
          const to = Math.min(end, chunkEnd);
          target.set(chunk.subarray(from - chunkAt, to - chunkAt), from - position);
        }
        chunkAt = chunkEnd;
        if (chunkAt >= end) break;
      }
    } finally {
      const left = this.#reading.get(position)! - 1;
      if (left === 0) this.#reading.delete(position);
      else this.#reading.set(position, left);
    }
    // Chunks wholly before every read under way, and a little more (reads may come out of
    // order), are done with.
    const keep = Math.min(end, ...this.#reading.keys()) - NEAR;
    while (flow.queue.length > 0 && flow.at + flow.queue[0]!.length <= keep) flow.at += flow.queue.shift()!.length;
    void this.#pump(flow);
    return end - position;
  }

  /** Takes the next chunk of the stream (one at a time). */
  #pull(flow: Flow): Promise<void> {
    flow.pulling ??= flow.source.next().then(
      (r) => {
        flow.pulling = undefined;
        if (r.done) flow.done = true;
        else {
          flow.queue.push(r.value);
          flow.end += r.value.length;
        }
      },
      (e: unknown) => {
        flow.pulling = undefined;
        flow.error = e;
        flow.done = true;
      },
    );
    return flow.pulling;
  }

  /** Keeps taking chunks while less than the window is held ahead of the reader. */
  async #pump(flow: Flow): Promise<void> {
    if (flow.pumping) return;
    flow.pumping = true;
    try {
      while (!flow.done && this.#flow === flow && flow.end - this.#next < this.#window) await this.#pull(flow);
    } finally {
      flow.pumping = false;
    }
  }

  /** Starts a stream from `position`: the reader's flow once open, unless stopped meanwhile. */
  #open(position: number): Promise<Flow> {
    this.#stop();
    const opening = {
      at: position,
      flow: this.#store.stream!(this.#key, position, this.#size, this.#etag === undefined ? {} : { etag: this.#etag }).then(
        (source): Flow => {
          const flow: Flow = { at: position, end: position, queue: [], source, pulling: undefined, pumping: false, done: false };
          if (this.#opening === opening) {
            this.#opening = undefined;
            this.#flow = flow;
          } else {
            // Stopped while it opened (a jump elsewhere, the handle closed): its reads fetch ranges.
            flow.done = true;
            void Promise.resolve(source.return?.()).catch(() => {});
          }
          return flow;
        },
        (e: unknown) => {
          if (this.#opening === opening) this.#opening = undefined;
          throw e;
        },
      ),
    };
    this.#opening = opening;
    return opening.flow;
  }

  /** Ends the stream (its connection is closed), or the one being opened. */
  #stop(): void {
    this.#opening = undefined;
    const flow = this.#flow;
    if (!flow) return;
    this.#flow = undefined;
    // Reads still waiting on it copy what it holds (kept whole: `at`, `end` and `queue` agree).
    flow.done = true;
    void Promise.resolve(flow.source.return?.()).catch(() => {});
  }

  /** Drops what was fetched and ends any stream (the handle closed). */
  release(): void {
    this.#stop();
    this.#blocks = [];
  }
}
