import type { FileHandle, SpilledLines } from '@shylock/core';
import { NATIVE_FLUSH_NOOP, NATIVE_READ, NATIVE_WRITE, type NativeSession } from './binding.js';
import type { OpenFile } from './open-files.js';

/** The first prepaid chunk of native I/O, and the largest: 256 KiB doubling up to 16 MiB. */
export const FIRST_CHUNK = 256 * 1024;
export const MAX_CHUNK = 16 * 1024 * 1024;
const PAGE = 4096;
/** The size of most requests of a sequential reader or writer. */
const REQUEST = 128 * 1024;

/** The bytes reads of a hand-over return, in one piece. */
function joinLines({ lines, skip }: SpilledLines): Uint8Array {
  let total = -skip;
  for (const line of lines) total += line.length + 1;
  const out = new Uint8Array(total);
  let at = 0;
  for (const [i, line] of lines.entries()) {
    const part = i === 0 ? line.subarray(skip) : line;
    out.set(part, at);
    at += part.length;
    out[at++] = 10;
  }
  return out;
}

/**
 * Native I/O: files whose handle has a `native` descriptor (or value) are registered with the
 * binding, whose FUSE threads then serve their reads and writes while they hold credit. Without
 * a price the I/O is free; with one, a first chunk is prepaid at open when the rule has it, a
 * request out of credit goes through JavaScript and prepays the next chunk (refill), and what is
 * left at close is given back.
 */
export class NativeIo {
  constructor(
    private readonly session: NativeSession,
    readonly enabled: boolean,
  ) {}

  /** Registers fd's handle when it can be served natively; true when it was. */
  register(fd: number, file: OpenFile, handle: FileHandle): boolean {
    const native = handle.native;
    if (!this.enabled || !native || file.stream || !(native.read || native.write)) return false;
    const free = native.charge ? 0 : -1;
    const flags = (native.read ? NATIVE_READ : 0) | (native.write ? NATIVE_WRITE : 0) | (native.noFlush ? NATIVE_FLUSH_NOOP : 0);
    const registered =
      native.bytes !== undefined
        ? native.read && this.session.fastOpenMemory(fd, native.bytes, flags, free, free)
        : native.fd !== undefined && this.session.fastOpen(fd, native.fd, flags, free, free, free, free);
    if (!registered) return false;
    file.native = { charged: !!native.charge, chunk: { read: FIRST_CHUNK, write: FIRST_CHUNK } };
    // Paid for, the first requests need no JavaScript either: a value's whole length in pages (the
    // kernel asks for whole pages) or a first chunk of a descriptor, with an operation per 128 KiB
    // (the kernel's usual request), when the rule has them now. Given back at close if unused.
    if (native.charge) {
      const first = native.bytes !== undefined ? Math.max(PAGE, Math.ceil(native.bytes.length / PAGE) * PAGE) : FIRST_CHUNK;
      const ops = Math.ceil(first / REQUEST);
      for (const kind of ['read', 'write'] as const) {
        if (!native[kind] || (kind === 'write' && native.bytes !== undefined)) continue;
        if (native.charge(kind, first, ops)) this.session.fastCredit(fd, kind === 'write', first, ops);
      }
    }
    return true;
  }

  /**
   * After a request of a native file went through JavaScript (its credit ran out): tops the
   * credit of that direction up to the next chunk, doubling up to MAX_CHUNK and halving when the
   * rule cannot pay, with one operation per request of the size just seen (the kernel sends a
   * sequential reader 128 KiB at a time, a random one 4 KiB): the file holds about what it will
   * use, and pays only what it lacks. While the rule cannot pay, the file's requests go through
   * JavaScript, where each waits its turn. True when the credit now covers a request of
   * `length` bytes: the FUSE thread can then serve it (SERVE_NATIVE).
   */
  refill(fd: number, file: OpenFile, kind: 'read' | 'write', length: number): boolean {
    const n = file.native;
    if (!n?.charged) return false;
    const write = kind === 'write';
    const left = this.session.fastCredit(fd, write, 0, 0);
    if (!left) return false;
    // A chunk holds at least the request at hand (1 MiB writes would otherwise go through
    // JavaScript until the chunk had doubled up to them).
    const bytes = Math.max(n.chunk[kind], length);
    const needBytes = Math.max(0, bytes - left[0]);
    const needOps = Math.max(0, Math.ceil(bytes / Math.max(1, length)) - left[1]);
    const covers = (b: number, o: number) => b >= length && o >= 1;
    if (needBytes === 0 && needOps === 0) return covers(left[0], left[1]);
    if (!file.handle.native!.charge!(kind, needBytes, needOps)) {
      // Settle at the largest chunk the rule's burst allows.
      n.chunk[kind] = Math.max(FIRST_CHUNK, bytes / 2);
      return false;
    }
    const now = this.session.fastCredit(fd, write, needBytes, needOps);
    n.chunk[kind] = Math.min(MAX_CHUNK, bytes * 2);
    return now !== null && covers(now[0], now[1]);
  }

  /**
   * A stream file whose handle can hand over what it received (FileHandle.spill): the FUSE
   * threads then serve reads from those bytes, and only a read that finds none comes to
   * JavaScript (which waits for messages, answers, and feeds what is left). True when it was.
   */
  registerStream(fd: number, file: OpenFile): boolean {
    if (!this.enabled || !file.stream || !file.handle.spill || !this.session.fastStreamOpen?.(fd)) return false;
    file.spilling = {};
    return true;
  }

  /** For a spilling stream's read in JavaScript: true when the FUSE thread has bytes to serve it. */
  fed(fd: number, file: OpenFile): boolean {
    return !!file.spilling && !file.spilling.leftover && (this.session.fastStreamQueued?.(fd) ?? 0) > 0;
  }

  /**
   * A spilling stream's read in JavaScript: what is left from a feed that failed, else the handle's
   * read; then what the handle holds beyond it goes to the FUSE threads, before the answer.
   */
  async readStream(fd: number, file: OpenFile, target: Uint8Array, read: () => Promise<number>): Promise<number> {
    const s = file.spilling!;
    let n: number;
    if (s.leftover) {
      n = Math.min(target.length, s.leftover.length);
      target.set(s.leftover.subarray(0, n));
      s.leftover = n < s.leftover.length ? s.leftover.subarray(n) : undefined;
      if (s.leftover) return n;
    } else {
      n = await read();
    }
    const more = file.handle.spill!.take();
    if (more && this.session.fastStreamFeed!(fd, more.lines, more.skip) < 0) s.leftover = joinLines(more);
    return n;
  }

  /** Stops native I/O on fd (before its descriptor closes) and gives back unused credit. */
  unregister(fd: number, file: OpenFile): void {
    if (file.spilling) {
      // What the threads held and nobody read: the handle gives those messages back at close.
      const left = (this.session.fastStreamQueued?.(fd) ?? 0) + (file.spilling.leftover?.length ?? 0);
      file.spilling = undefined;
      this.session.fastClose(fd);
      file.handle.spill!.unread(left);
    }
    if (!file.native) return;
    file.native = undefined;
    const left = this.session.fastClose(fd);
    const native = file.handle.native;
    if (!left || !native?.refund) return;
    const [rb, ro, wb, wo] = left;
    if (rb > 0 || ro > 0) native.refund('read', Math.max(0, rb), Math.max(0, ro));
    if (wb > 0 || wo > 0) native.refund('write', Math.max(0, wb), Math.max(0, wo));
  }
}
