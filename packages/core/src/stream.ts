import { abortError, ShylockError } from './errors.js';
import type { FileHandle, OpenFlags, OpOptions, SpilledLines, Stat } from './types.js';

const NEWLINE = 10;

/** Options of {@link createStreamHandle}. */
export interface StreamHandleOptions {
  /** The path, for error messages. */
  path: string;
  /** The backend's name, for error messages. */
  backend: string;
  flags: OpenFlags;
  /**
   * Stores whole messages, in order, each without its newline. Called by `write` with the
   * complete lines of that write, and by `flush`/`close` with a last line that has no newline.
   * A rejection surfaces from that write/flush/close.
   */
  publish?(messages: Uint8Array[]): Promise<void>;
  /**
   * Waits for the next messages (without newlines) and resolves with at least one, or with
   * `null` once the stream has ended. Only one call runs at a time. `signal` aborts when the
   * handle closes: resolve or reject soon after, and give back anything taken meanwhile.
   */
  receive?(signal: AbortSignal): Promise<Uint8Array[] | null>;
  /**
   * Resolves once everything published so far is stored, rejecting with what failed: for a
   * backend whose `publish` returns before the store acknowledges (it sends in the background).
   * Called by `flush`, `sync` and `close` after the last publish.
   */
  settle?(): Promise<void>;
  /**
   * Called once at close, after the last publish, with the messages received but not yet read
   * (a task queue gives them back). Releases subscriptions and connections.
   */
  release?(unread: Uint8Array[]): Promise<void>;
  /** A line longer than this rejects EFBIG (default 64 MiB). */
  maxMessageBytes?: number;
  /** Metadata for `stat()`; type is `stream`, size 0. */
  stat?: Partial<Omit<Stat, 'type' | 'size'>>;
}

/**
 * A {@link FileHandle} for a message stream (pub/sub channel, log, topic, task queue), with the
 * semantics the backend contract gives streams: `read` waits until a message is available and
 * returns it newline-terminated, never 0 while the stream lives, in pieces when the buffer is
 * small; each line written is one message, and a last line without a newline is published at
 * flush/close. Backends supply `publish` and `receive`; see {@link createInbox} for push sources.
 */
export function createStreamHandle(options: StreamHandleOptions): FileHandle {
  const { flags, path, backend } = options;
  const maxMessage = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const ctx = (op: string) => ({ op, path, backend });
  const badf = (op: string, why: string) => new ShylockError('EBADF', `${op} ${path}: ${why}`, ctx(op));

  // Reading: messages received and not yet read, as received (no newline), from `first` on (no
  // shift per message: a receive may bring tens of thousands); the head may be partly read.
  // headOffset === head.length means only the head's newline is left to read.
  let unread: Uint8Array[] = [];
  let first = 0;
  let headOffset = 0;
  const unreadCount = () => unread.length - first;
  // Handed over by spill.take, the first one from spilledSkip on (each with its newline).
  let spilled: readonly Uint8Array[] = [];
  let spilledSkip = 0;
  // Spilled messages never read, known at close: given back before the unread ones.
  let spilledBack: Uint8Array[] = [];
  let ended = false;
  let receiving: Promise<void> | undefined;
  const closer = new AbortController();

  const take = (buffer: Uint8Array): number => {
    let n = 0;
    while (n < buffer.length && first < unread.length) {
      const head = unread[first]!;
      if (headOffset < head.length) {
        const count = Math.min(buffer.length - n, head.length - headOffset);
        buffer.set(head.subarray(headOffset, headOffset + count), n);
        n += count;
        headOffset += count;
      }
      // The newline is written here, not kept with each message: no copy per message.
      if (headOffset === head.length && n < buffer.length) {
        buffer[n++] = NEWLINE;
        first++;
        headOffset = 0;
      }
    }
    if (first === unread.length) {
      unread = [];
      first = 0;
    }
    return n;
  };
  const receiveMore = () =>
    (receiving ??= options.receive!(closer.signal)
      .then((messages) => {
        if (messages === null) ended = true;
        else if (unreadCount() === 0) {
          unread = messages.slice();
          first = 0;
        } else for (const m of messages) unread.push(m);
      })
      .finally(() => {
        receiving = undefined;
      }));

  // Writing: the start of a line not yet ended by a newline.
  let partial: Uint8Array[] = [];
  let partialBytes = 0;
  // A line refused as too long: its bytes up to the next newline are dropped, none published.
  let refusing = 0;
  const joinPartial = (tail: Uint8Array): Uint8Array => {
    if (partialBytes === 0) return tail;
    const out = new Uint8Array(partialBytes + tail.length);
    let at = 0;
    for (const p of partial) {
      out.set(p, at);
      at += p.length;
    }
    out.set(tail, at);
    partial = [];
    partialBytes = 0;
    return out;
  };
  const tooLong = (op: string, size: number) =>
    new ShylockError('EFBIG', `${op} ${path}: a ${size}-byte line is over the ${maxMessage}-byte limit per message`, ctx(op));
  const flushPartial = async () => {
    if (partialBytes === 0 || !options.publish) return;
    const message = joinPartial(new Uint8Array(0));
    try {
      await options.publish([message]);
    } catch (e) {
      // Kept, so a later flush/close may try again: nothing written is dropped silently.
      partial = [message];
      partialBytes = message.length;
      throw e;
    }
  };

  const spill = {
    take(): SpilledLines | undefined {
      if (unreadCount() === 0) return undefined;
      spilled = first === 0 ? unread : unread.slice(first);
      spilledSkip = headOffset;
      unread = [];
      first = 0;
      headOffset = 0;
      return { lines: spilled, skip: spilledSkip };
    },
    unread(bytes: number): void {
      let left = bytes;
      let i = spilled.length;
      // A line read in part (before the hand-over, or after it) counts as read.
      while (i > 0) {
        const partial = i === 1 && spilledSkip > 0;
        const size = spilled[i - 1]!.length + 1 - (i === 1 ? spilledSkip : 0);
        if (partial || left < size) break;
        left -= size;
        i--;
      }
      spilledBack = spilled.slice(i);
      spilled = [];
    },
  };

  let closing: Promise<void> | undefined;
  return {
    ...(flags.read && options.receive ? { spill } : {}),
    async read(buffer: Uint8Array, _position: number | null, op?: OpOptions) {
      if (!flags.read || !options.receive) throw badf('read', 'the stream was not opened for reading');
      const signal = op?.signal;
      for (;;) {
        if (unreadCount() > 0) return take(buffer);
        if (ended || closing || buffer.length === 0) return 0;
        if (signal?.aborted) throw abortError(signal, ctx('read'));
        const more = receiveMore();
        if (!signal) {
          await more;
          continue;
        }
        // An aborted read stops waiting; what the receive brings stays for the next read.
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(abortError(signal, ctx('read')));
          signal.addEventListener('abort', onAbort, { once: true });
          more.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
        });
      }
    },
    async write(input: Uint8Array) {
      if (!flags.write || !options.publish) throw badf('write', 'the stream was not opened for writing');
      // One copy of the whole write: the messages are views of it, and a backend may keep them
      // past this call (an inbox, a client's offline queue). The caller's memory is not ours: FUSE
      // reuses it, and the binding detaches it once the write is answered.
      const data = Uint8Array.prototype.slice.call(input);
      const messages: Uint8Array[] = [];
      let start = 0;
      if (refusing > 0) {
        const end = data.indexOf(NEWLINE);
        if (end === -1) {
          refusing += data.length;
          throw tooLong('write', refusing);
        }
        refusing = 0;
        start = end + 1;
      }
      for (let i = data.indexOf(NEWLINE, start); i !== -1; i = data.indexOf(NEWLINE, start)) {
        messages.push(joinPartial(data.subarray(start, i)));
        start = i + 1;
      }
      if (start < data.length) {
        if (partialBytes + data.length - start > maxMessage) {
          // Refused whole: what came of the line before goes, and so does the rest of it.
          refusing = partialBytes + data.length - start;
          partial = [];
          partialBytes = 0;
          throw tooLong('write', refusing);
        }
        partial.push(data.subarray(start));
        partialBytes += data.length - start;
      }
      for (const m of messages) if (m.length > maxMessage) throw tooLong('write', m.length);
      if (messages.length > 0) await options.publish(messages);
      return input.length;
    },
    // O_TRUNC on a stream (`echo x > stream`) has nothing to empty.
    async truncate() {},
    async stat() {
      return { mode: 0o644, mtimeMs: Date.now(), ...options.stat, type: 'stream', size: 0 };
    },
    async flush() {
      await flushPartial();
      await options.settle?.();
    },
    async sync() {
      await flushPartial();
      await options.settle?.();
    },
    close() {
      closing ??= (async () => {
        let failure: unknown;
        await flushPartial().catch((e: unknown) => {
          failure = e;
        });
        if (!failure) {
          await options.settle?.().catch((e: unknown) => {
            failure = e;
          });
        }
        closer.abort();
        await receiving?.catch(() => undefined);
        const rest = [...spilledBack, ...unread.slice(headOffset > 0 ? first + 1 : first)];
        unread = [];
        first = 0;
        spilledBack = [];
        try {
          await options.release?.(rest);
        } catch (e) {
          // A line that could not be published matters more: it is written data not stored.
          failure ??= e;
        }
        if (failure) throw failure;
      })();
      return closing;
    },
  };
}

/** A push source (a subscription) as the pull `receive` of {@link createStreamHandle}. */
export interface Inbox {
  /** Adds a message; past the backlog the oldest unread one is dropped. */
  push(message: Uint8Array): void;
  /** Ends the stream: a waiting and every later `receive` resolves `null`. */
  end(): void;
  /** Makes the waiting (or next) `receive` reject with `error` once; later ones wait again. */
  fail(error: unknown): void;
  receive(signal: AbortSignal): Promise<Uint8Array[] | null>;
  /** Messages dropped because the reader fell more than `backlog` behind. */
  readonly dropped: number;
}

/**
 * A bounded queue between a subscription that pushes messages and a stream handle that pulls
 * them. A reader that falls `backlog` messages behind loses the oldest (pub/sub keeps nothing
 * for slow readers either); `dropped` counts them.
 */
export function createInbox(backlog = 10_000): Inbox {
  const queue: Uint8Array[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let dropped = 0;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return {
    push(message) {
      if (ended) return;
      queue.push(message);
      if (queue.length > backlog) {
        queue.shift();
        dropped++;
      }
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    fail(error) {
      failure = { error };
      notify();
    },
    get dropped() {
      return dropped;
    },
    async receive(signal) {
      for (;;) {
        if (queue.length > 0) return queue.splice(0, queue.length);
        if (ended || signal.aborted) return null;
        if (failure) {
          const { error } = failure;
          failure = undefined;
          throw error;
        }
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener('abort', done);
            resolve();
          };
          wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
      }
    },
  };
}
