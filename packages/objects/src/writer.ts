import { checkOffset, ShylockError, toShylockError, type OpenFlags, type Stat } from '@shylock/core';
import { giveBuffer, takeBuffer } from './buffers.js';
import { ObjectReader, type ReaderOptions } from './reader.js';
import { Spool } from './spool.js';
import type { ObjectStore, UploadedPart } from './store.js';

/** Options of {@link ObjectWriter}. */
export interface WriterOptions {
  store: ObjectStore;
  key: string;
  /** The file's path, for messages. */
  path: string;
  flags: OpenFlags;
  /** The object as it is now, or null when the open creates it. */
  existing: { size: number; mtimeMs: number; etag?: string } | null;
  /** Bytes per uploaded part (also the most a single PUT sends). */
  partSize: number;
  /** Parts sent at once. */
  concurrency: number;
  spoolDir: string;
  reader: ReaderOptions;
  /** Called after each successful store with the object's new size and tag. */
  stored(info: { size: number; mtimeMs: number; etag?: string }): void;
}

type Mode =
  /** The file is the object as stored; nothing held. Reads go to the store, a change spools it. */
  | 'object'
  /** Written from the start in order: the tail held in memory, whole parts sent as they fill. */
  | 'stream'
  /** The whole file (or, after a failed part, all but the parts sent) in a local spool file. */
  | 'spool';

interface Upload {
  id: string;
  /** Parts the store holds, by number (part n is bytes (n-1)·partSize up to n·partSize). */
  sent: Map<number, string>;
  /** Parts on their way. */
  sending: Map<number, Promise<void>>;
  /** Parts that failed, with their bytes (written to the spool when the handle switches to it). */
  failed: Map<number, { bytes: Uint8Array; error: unknown }>;
}

/**
 * The write side of an open object. A file written from its start in order streams: whole parts
 * go up as a multipart upload while the writer goes on (memory stays within a few parts), and a
 * file smaller than a part is one PUT. Anything else — a write behind what was sent, a read of
 * it, a truncate, an append to an existing object — moves the file into a spool file (the object
 * downloaded into it first where needed) and uploads it whole at flush/close.
 *
 * Nothing reported written is dropped: a flush that fails leaves the data in the spool (its path
 * in the error) and a later flush retries; a failed part's bytes go to the spool too.
 */
export class ObjectWriter {
  readonly #o: WriterOptions;
  #mode: Mode;
  #size: number;
  #mtimeMs: number;
  #etag: string | undefined;
  #dirty: boolean;
  /** stream: offset of #buf's first byte (everything before it is sent or sending). */
  #base = 0;
  #buf: Buffer | undefined;
  #held = 0;
  #upload: Upload | undefined;
  #spool: Spool | undefined;
  #reader: ObjectReader | undefined;
  #cursor = 0;
  /** The spool holds the whole file (not only what a failed upload did not send). */
  #spoolWhole = true;
  /** The short last part of a finished stream, kept until the upload completes. */
  #lastPart: { number: number; bytes: Uint8Array } | undefined;

  constructor(options: WriterOptions) {
    this.#o = options;
    const { existing, flags } = options;
    this.#mtimeMs = Date.now();
    if (existing && !flags.truncate) {
      this.#mode = 'object';
      this.#size = existing.size;
      this.#mtimeMs = existing.mtimeMs;
      this.#etag = existing.etag;
      this.#dirty = false;
    } else {
      this.#mode = 'stream';
      this.#size = 0;
      // A created file exists even if nothing is written; a truncated one is empty now.
      this.#dirty = true;
    }
  }

  /** Where the file's data waits, when a spool holds it. */
  get spoolPath(): string | undefined {
    return this.#spool?.path;
  }

  stat(): Stat {
    return { type: 'file', size: this.#size, mode: 0o644, mtimeMs: this.#mtimeMs, blksize: 1 << 20 };
  }

  async read(target: Uint8Array, position: number | null): Promise<number> {
    const at = position ?? this.#cursor;
    checkOffset(at, 'the position', 'read', this.#o.path);
    let n: number;
    if (this.#mode === 'stream' && at >= this.#base) {
      n = Math.max(0, Math.min(target.length, this.#size - at));
      if (n > 0) target.set(this.#buf!.subarray(at - this.#base, at - this.#base + n));
    } else if (this.#mode === 'object') {
      this.#reader ??= new ObjectReader(this.#o.store, this.#o.key, this.#size, this.#etag, this.#o.reader);
      n = await this.#reader.read(target, at);
    } else {
      await this.#toSpool();
      n = await this.#spool!.read(target, at, this.#size);
    }
    if (position === null) this.#cursor = at + n;
    return n;
  }

  async write(data: Uint8Array, position: number | null): Promise<number> {
    const at = this.#o.flags.append ? this.#size : (position ?? this.#cursor);
    checkOffset(at, 'the position', 'write', this.#o.path);
    const end = at + data.length;
    if (end > this.#o.store.limits.maxObjectSize) {
      throw new ShylockError(
        'EFBIG',
        `write ${this.#o.path}: ${end} bytes is over the ${this.#o.store.name} limit of ${this.#o.store.limits.maxObjectSize} per object`,
      );
    }
    const { maxParts } = this.#o.store.limits;
    if (end > maxParts * this.#o.partSize) {
      throw new ShylockError(
        'EFBIG',
        `write ${this.#o.path}: ${end} bytes needs more than the ${maxParts} parts ${this.#o.store.name} allows in one upload; mount with a larger --part-size (now ${this.#o.partSize} bytes)`,
      );
    }
    // In order, or a little behind or ahead of the end but past what was sent: stays a stream.
    if (this.#mode === 'stream' && at >= this.#base && at - this.#size <= this.#o.partSize) {
      if (at > this.#size) await this.#append(Buffer.alloc(at - this.#size), this.#size);
      await this.#append(data, at);
    } else {
      await this.#toSpool();
      this.#sealedCheck(at, end);
      await this.#spool!.write(data, at);
      this.#size = Math.max(this.#size, end);
    }
    this.#dirty = true;
    this.#mtimeMs = Date.now();
    if (position === null || this.#o.flags.append) this.#cursor = end;
    return data.length;
  }

  async truncate(size: number): Promise<void> {
    checkOffset(size, 'the size', 'truncate', this.#o.path);
    if (size === this.#size) return;
    if (this.#mode === 'stream' && size >= this.#base && size - this.#size <= this.#o.partSize) {
      if (size > this.#size) await this.#append(Buffer.alloc(size - this.#size), this.#size);
      else {
        this.#held = size - this.#base;
        this.#size = size;
      }
    } else if (size === 0 && this.#mode !== 'spool') {
      // Emptied: nothing of the old object is needed.
      await this.#dropUpload();
      this.#reader = undefined;
      this.#mode = 'stream';
      this.#base = 0;
      this.#held = 0;
      this.#size = 0;
    } else {
      await this.#toSpool();
      this.#sealedCheck(size, this.#size);
      await this.#spool!.truncate(size);
      this.#size = size;
    }
    this.#dirty = true;
    this.#mtimeMs = Date.now();
  }

  /** Stores what changed; resolves once the store holds it. */
  async flush(): Promise<void> {
    await this.#flush(false);
  }

  async #flush(closing: boolean): Promise<void> {
    if (!this.#dirty) return;
    try {
      if (this.#mode === 'stream') await this.#finishStream();
      else if (this.#mode === 'spool') await this.#uploadSpool();
    } catch (e) {
      throw await this.#failed(e, closing);
    }
    this.#dirty = false;
  }

  /** Stores what changed and releases memory and the spool (kept when the store failed). */
  async close(): Promise<void> {
    try {
      await this.#flush(true);
    } catch (e) {
      // The upload is given up; the spool keeps the data and the error says where.
      if (this.#upload) await this.#o.store.abortUpload(this.#o.key, this.#upload.id).catch(() => {});
      this.#upload = undefined;
      await this.#spool?.keep();
      this.#release();
      throw e;
    }
    await this.#spool?.remove();
    this.#release();
  }

  /** The part buffer is done with (its bytes are stored or copied elsewhere): another part may use it. */
  #dropBuf(): void {
    if (this.#buf) giveBuffer(this.#buf);
    this.#buf = undefined;
  }

  #release(): void {
    this.#spool = undefined;
    this.#dropBuf();
    this.#reader?.release();
    this.#reader = undefined;
  }

  /** Appends to the stream at `at` (≥ #base, ≤ #size), sending each part that fills. */
  async #append(data: Uint8Array, at: number): Promise<void> {
    const part = this.#o.partSize;
    this.#buf ??= takeBuffer(part);
    let done = 0;
    while (done < data.length) {
      const offset = at + done - this.#base;
      const n = Math.min(data.length - done, part - offset);
      this.#buf.set(data.subarray(done, done + n), offset);
      done += n;
      this.#held = Math.max(this.#held, offset + n);
      this.#size = Math.max(this.#size, this.#base + this.#held);
      if (this.#held === part) await this.#sendFull();
      // A send that failed turned the stream into a spool: the rest goes there.
      if (this.#mode !== 'stream') {
        if (done < data.length) await this.#spool!.write(data.subarray(done), at + done);
        this.#size = Math.max(this.#size, at + data.length);
        return;
      }
    }
  }

  /** Sends the full buffer as the next part, waiting while `concurrency` parts are on their way. */
  async #sendFull(): Promise<void> {
    let upload: Upload;
    try {
      upload = await this.#startUpload();
    } catch {
      // No upload could begin (nothing was sent yet): the file goes on in a spool, stored at flush.
      await this.#spoolHeld();
      return;
    }
    const number = this.#base / this.#o.partSize + 1;
    const bytes = this.#buf!;
    this.#buf = takeBuffer(this.#o.partSize);
    this.#base += this.#held;
    this.#held = 0;
    this.#send(upload, number, bytes, true);
    while (upload.sending.size >= this.#o.concurrency) await Promise.race(upload.sending.values());
    if (upload.failed.size > 0) await this.#tailToSpool();
  }

  /** Sends one part; `reuse`: `bytes` is a part buffer, given back once the part is stored. */
  #send(upload: Upload, number: number, bytes: Uint8Array, reuse = false): void {
    const p = this.#o.store
      .uploadPart(this.#o.key, upload.id, number, bytes)
      .then(
        (etag) => {
          upload.sent.set(number, etag);
          if (reuse) giveBuffer(bytes as Buffer);
        },
        (error: unknown) => {
          upload.failed.set(number, { bytes, error });
        },
      )
      .finally(() => upload.sending.delete(number));
    upload.sending.set(number, p);
  }

  async #startUpload(): Promise<Upload> {
    if (this.#upload) return this.#upload;
    const id = await this.#o.store.startUpload(this.#o.key);
    this.#upload = { id, sent: new Map(), sending: new Map(), failed: new Map() };
    return this.#upload;
  }

  /** The end of a stream: one PUT when no part was sent, else the last part and the completion. */
  async #finishStream(): Promise<void> {
    const upload = this.#upload;
    const tail = (this.#buf ?? Buffer.alloc(0)).subarray(0, this.#held);
    if (!upload) {
      const { etag } = await this.#o.store.put(this.#o.key, tail);
      this.#storedAs(etag);
      return;
    }
    if (this.#held > 0) {
      const number = this.#base / this.#o.partSize + 1;
      this.#lastPart = { number, bytes: Buffer.from(tail) };
      this.#send(upload, number, this.#lastPart.bytes);
      this.#base += this.#held;
      this.#held = 0;
    }
    await Promise.all(upload.sending.values());
    if (upload.failed.size > 0) {
      await this.#tailToSpool();
      throw [...upload.failed.values()][0]!.error;
    }
    await this.#complete(upload);
  }

  async #complete(upload: Upload): Promise<void> {
    const parts: UploadedPart[] = [...upload.sent].map(([partNumber, etag]) => ({ partNumber, etag }));
    parts.sort((a, b) => a.partNumber - b.partNumber);
    const { etag } = await this.#o.store.completeUpload(this.#o.key, upload.id, parts);
    this.#upload = undefined;
    this.#dropBuf();
    this.#lastPart = undefined;
    this.#storedAs(etag);
    // The object holds it all now; a later change starts from the object.
    this.#mode = 'object';
    this.#base = 0;
    this.#held = 0;
  }

  #storedAs(etag: string | undefined): void {
    this.#etag = etag;
    this.#o.stored({ size: this.#size, mtimeMs: this.#mtimeMs, ...(etag === undefined ? {} : { etag }) });
  }

  /**
   * A part failed: from now on the spool holds what the store does not (the failed parts, what
   * was held, what is written next); the parts sent stay in the upload for the retry.
   */
  async #tailToSpool(): Promise<void> {
    const upload = this.#upload!;
    await Promise.all(upload.sending.values());
    this.#spool ??= await Spool.create(this.#o.spoolDir, this.#o.key);
    const part = this.#o.partSize;
    this.#spoolWhole = false;
    for (const [number, { bytes }] of upload.failed) await this.#spool.write(bytes, (number - 1) * part);
    if (this.#held > 0) await this.#spool.write(this.#buf!.subarray(0, this.#held), this.#base);
    // A short last part that went up is sent again with what may follow it.
    const last = this.#lastPart;
    if (last && upload.sent.has(last.number)) {
      await this.#spool.write(last.bytes, (last.number - 1) * part);
      upload.sent.delete(last.number);
    }
    this.#lastPart = undefined;
    upload.failed.clear();
    this.#dropBuf();
    this.#held = 0;
    this.#mode = 'spool';
  }

  /** Bytes [start, end) may change only where no part of a pending upload holds them. */
  #sealedCheck(start: number, end: number): void {
    if (!this.#upload) return;
    const part = this.#o.partSize;
    for (const n of this.#upload.sent.keys()) {
      if ((n - 1) * part < Math.max(end, start + 1) && n * part > start) {
        throw new ShylockError(
          'EIO',
          `write ${this.#o.path}: bytes ${(n - 1) * part}–${n * part} were already sent in an upload that could not be finished; fsync to retry it first`,
        );
      }
    }
  }

  /** Moves the file into a spool file (downloading the object into it where needed). */
  async #toSpool(): Promise<void> {
    if (this.#mode === 'spool') return;
    if (this.#mode === 'stream' && this.#upload) {
      // Parts were sent: finish the object, then change it from a download.
      await this.#finishStream().catch(async (e) => {
        throw await this.#failed(e);
      });
    }
    this.#spoolWhole = true;
    if (this.#mode === 'stream') return this.#spoolHeld();
    await this.#spoolWith(async (spool) => {
      const chunk = 8 << 20;
      const reader = new ObjectReader(this.#o.store, this.#o.key, this.#size, this.#etag, { ...this.#o.reader, whole: 0 });
      const block = Buffer.allocUnsafe(Math.min(chunk, Math.max(this.#size, 1)));
      for (let at = 0; at < this.#size; ) {
        const n = await reader.read(block, at);
        if (n === 0) break;
        await spool.write(block.subarray(0, n), at);
        at += n;
      }
      this.#reader?.release();
      this.#reader = undefined;
    });
  }

  /** Uploads the spool: one PUT when small, else a multipart upload (only the parts not sent). */
  async #uploadSpool(): Promise<void> {
    const spool = this.#spool!;
    const part = this.#o.partSize;
    if (!this.#upload && this.#size <= part) {
      const { etag } = await this.#o.store.put(this.#o.key, await spool.slice(0, this.#size));
      this.#storedAs(etag);
      return;
    }
    const upload = await this.#startUpload();
    const count = Math.max(1, Math.ceil(this.#size / part));
    for (const n of [...upload.sent.keys()]) if (n > count) upload.sent.delete(n);
    for (let n = 1; n <= count; n++) {
      if (upload.sent.has(n)) continue;
      const start = (n - 1) * part;
      this.#send(upload, n, await spool.slice(start, Math.min(this.#size, start + part)));
      while (upload.sending.size >= this.#o.concurrency) await Promise.race(upload.sending.values());
    }
    await Promise.all(upload.sending.values());
    if (upload.failed.size > 0) {
      const { error } = [...upload.failed.values()][0]!;
      upload.failed.clear();
      throw error;
    }
    await this.#complete(upload);
    if (this.#spoolWhole) {
      // The spool still holds the whole file: further changes go on there.
      this.#mode = 'spool';
    } else {
      // It held only what the failed upload had not sent: the object is the file now.
      await this.#spool?.remove();
      this.#spool = undefined;
      this.#spoolWhole = true;
    }
  }

  async #dropUpload(): Promise<void> {
    const upload = this.#upload;
    if (!upload) return;
    await Promise.all(upload.sending.values());
    this.#upload = undefined;
    await this.#o.store.abortUpload(this.#o.key, upload.id).catch(() => {});
  }

  /** The bytes held in memory go to a new spool file, at their offsets; the file goes on there. */
  #spoolHeld(): Promise<void> {
    return this.#spoolWith((spool) => spool.write(this.#buf!.subarray(0, this.#held), this.#base));
  }

  /** A new spool file, filled by `fill`, holds the file from now on (removed again if `fill` fails). */
  async #spoolWith(fill: (spool: Spool) => Promise<void>): Promise<void> {
    const spool = await Spool.create(this.#o.spoolDir, this.#o.key);
    try {
      await fill(spool);
    } catch (e) {
      await spool.remove();
      throw e;
    }
    this.#spool = spool;
    this.#dropBuf();
    this.#held = 0;
    this.#mode = 'spool';
  }

  /**
   * A store that failed: the data goes to a spool file if it is not in one, and the error (EIO
   * unless the store said better) names where it is kept.
   */
  async #failed(error: unknown, closing = false): Promise<ShylockError> {
    if (this.#mode === 'stream' && this.#held > 0 && !this.#spool) {
      // No room for a spool: the bytes stay in memory for the next flush.
      await this.#spoolHeld().catch(() => {});
    }
    const cause = toShylockError(error, { op: 'flush', path: this.#o.path, backend: this.#o.store.name });
    const retry = closing ? '' : '; fsync or close again to retry';
    const kept = this.#spool
      ? this.#spoolWhole
        ? ` The data is kept in ${this.#spool.path}${retry}.`
        : closing
          ? ` The bytes the store did not get are kept in ${this.#spool.path} (at their offsets); the parts it got are dropped with the upload.`
          : ` The bytes not yet stored are kept in ${this.#spool.path} (at their offsets; the other parts wait in the unfinished upload)${retry}.`
      : ` The data is kept in memory${retry}.`;
    const code = cause.code === 'ENOENT' ? 'EIO' : cause.code;
    return new ShylockError(code, `could not store ${this.#o.path} in ${this.#o.store.where}: ${cause.message}.${kept}`, {
      op: 'flush',
      path: this.#o.path,
      backend: this.#o.store.name,
      cause: error,
      retryable: cause.retryable,
    });
  }
}
