import { ShylockError, type FileHandle } from '@shylock/core';

/** A file open through the mount. */
export interface OpenFile {
  handle: FileHandle;
  path: string;
  stream: boolean;
  /** Registered for native I/O; with `charged`, the next prepaid chunk per direction. */
  native?: { charged: boolean; chunk: { read: number; write: number } };
  /**
   * A stream whose received bytes are fed to the FUSE threads (FileHandle.spill), with what could
   * not be fed, served by the next reads here.
   */
  spilling?: { leftover?: Uint8Array };
}

/**
 * The mount's open files by handle number, and the newest writable handle per path: a key/value
 * or object backend stores a new file only at flush/close, so until then its attributes (and
 * buffered size) come from the handle.
 */
export class OpenFiles {
  private readonly files = new Map<number, OpenFile>();
  private readonly writers = new Map<string, OpenFile>();
  private next = 1;

  /** Adds a file; returns its handle number (1 to 2^30 − 1: bit 30 is the per-open direct I/O flag). */
  add(file: OpenFile, writer: boolean): number {
    do {
      this.next = this.next >= 0x3fffffff ? 1 : this.next + 1;
    } while (this.files.has(this.next));
    this.files.set(this.next, file);
    if (writer) this.writers.set(file.path, file);
    return this.next;
  }

  get(fd: number): OpenFile | undefined {
    return this.files.get(fd);
  }

  /** The open file fd, or EBADF. */
  need(path: string, fd: number): OpenFile {
    const file = this.files.get(fd);
    if (!file) throw new ShylockError('EBADF', `${path}: handle ${fd} is not open`, { path });
    return file;
  }

  /** Removes fd (released). */
  remove(fd: number): OpenFile | undefined {
    const file = this.files.get(fd);
    this.files.delete(fd);
    if (file && this.writers.get(file.path) === file) this.writers.delete(file.path);
    return file;
  }

  /** The newest writable handle of path. */
  writer(path: string): OpenFile | undefined {
    return this.writers.get(path);
  }

  unlinked(path: string): void {
    this.writers.delete(path);
  }

  renamed(from: string, to: string): void {
    const writer = this.writers.get(from);
    this.writers.delete(from);
    if (writer) this.writers.set(to, writer);
  }

  /** Paths of the files open now. */
  paths(): string[] {
    return [...new Set([...this.files.values()].map((f) => f.path))];
  }

  /** Takes every file out (the mount ends). */
  drain(): [number, OpenFile][] {
    const all = [...this.files];
    this.files.clear();
    this.writers.clear();
    return all;
  }
}
