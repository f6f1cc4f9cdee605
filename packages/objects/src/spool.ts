import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, type FileHandle as FsHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A spool file: the local copy of an object being changed at random (or of what an upload could
 * not send). Made in the spool directory (mode 0700) with mode 0600, named after the object so a
 * user who finds one left by a failed upload knows what it holds.
 */
export class Spool {
  readonly path: string;
  readonly #fh: FsHandle;

  private constructor(path: string, fh: FsHandle) {
    this.path = path;
    this.#fh = fh;
  }

  static async create(dir: string, key: string): Promise<Spool> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const name = key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-120) || 'object';
    const path = join(dir, `${name}.${process.pid}.${randomBytes(4).toString('hex')}`);
    return new Spool(path, await open(path, 'wx+', 0o600));
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.#fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  /** Reads up to `target.length` bytes at `position` (zeros in holes); returns how many. */
  async read(target: Uint8Array, position: number, size: number): Promise<number> {
    const want = Math.max(0, Math.min(target.length, size - position));
    let done = 0;
    while (done < want) {
      const { bytesRead } = await this.#fh.read(target, done, want - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    // Past the spool's own end but inside the file (a truncate that grew it): zeros.
    target.fill(0, done, want);
    return want;
  }

  /** Bytes [start, end) as a new buffer. */
  async slice(start: number, end: number): Promise<Uint8Array> {
    const out = Buffer.allocUnsafe(end - start);
    await this.read(out, start, end);
    return out;
  }

  truncate(size: number): Promise<void> {
    return this.#fh.truncate(size);
  }

  /** Closes the file and removes it. */
  async remove(): Promise<void> {
    await this.#fh.close().catch(() => {});
    await rm(this.path, { force: true });
  }

  /** Closes the file and leaves it where it is (the data could not be stored). */
  async keep(): Promise<void> {
    await this.#fh.sync().catch(() => {});
    await this.#fh.close().catch(() => {});
  }
}
