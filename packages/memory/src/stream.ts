import { abortError, ShylockError, type FileHandle, type OpenFlags, type OpOptions } from '@shylock/core';

/** A message channel: every reader open at publish time receives each message once. */
export interface StreamNode {
  kind: 'stream';
  /** Receives each message (newline-terminated), or `null` when the stream is deleted. */
  subscribers: Set<(message: Uint8Array | null) => void>;
  publish(message: Uint8Array): void;
  end(): void;
}

const NEWLINE = 10;

/**
 * Opens a stream file. Reading subscribes at open: `read` returns the messages published since,
 * newline-terminated, and waits while there are none (it returns 0 only once the handle is closed
 * or the stream deleted). Writing publishes one message per line; a last line without a newline
 * is published at flush/close.
 */
export function openStream(node: StreamNode, path: string, flags: OpenFlags, backlog: number): FileHandle {
  const queue: Uint8Array[] = [];
  let headOffset = 0;
  let ended = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  const subscriber = (message: Uint8Array | null) => {
    if (message === null) ended = true;
    else {
      queue.push(message);
      if (queue.length > backlog) {
        queue.shift();
        headOffset = 0;
      }
    }
    wake();
  };
  if (flags.read) node.subscribers.add(subscriber);

  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const publishLine = (tail: Uint8Array) => {
    const message = new Uint8Array(pendingBytes + tail.length + 1);
    let at = 0;
    for (const part of pending) {
      message.set(part, at);
      at += part.length;
    }
    message.set(tail, at);
    message[message.length - 1] = NEWLINE;
    pending = [];
    pendingBytes = 0;
    node.publish(message);
  };
  const flushPartial = () => {
    if (pendingBytes > 0) publishLine(new Uint8Array(0));
  };
  const badf = (op: string, why: string) =>
    new ShylockError('EBADF', `${op} ${path}: ${why}`, { op, path, backend: 'memory' });

  const take = (buffer: Uint8Array): number => {
    let n = 0;
    while (n < buffer.length && queue.length > 0) {
      const head = queue[0]!;
      const count = Math.min(buffer.length - n, head.length - headOffset);
      buffer.set(head.subarray(headOffset, headOffset + count), n);
      n += count;
      headOffset += count;
      if (headOffset === head.length) {
        queue.shift();
        headOffset = 0;
      }
    }
    return n;
  };

  return {
    async read(buffer: Uint8Array, _position: number | null, options?: OpOptions) {
      if (!flags.read) throw badf('read', 'the stream was not opened for reading');
      const signal = options?.signal;
      for (;;) {
        if (queue.length > 0) return take(buffer);
        if (ended || buffer.length === 0) return 0;
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            waiters.delete(done);
            reject(abortError(signal!, { op: 'read', path, backend: 'memory' }));
          };
          const done = () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          };
          waiters.add(done);
          signal?.addEventListener('abort', onAbort, { once: true });
        });
      }
    },
    async write(data: Uint8Array) {
      if (!flags.write) throw badf('write', 'the stream was not opened for writing');
      if (ended) throw new ShylockError('ENOENT', `write ${path}: the stream was deleted`, { op: 'write', path });
      let start = 0;
      for (let i = data.indexOf(NEWLINE); i !== -1; i = data.indexOf(NEWLINE, start)) {
        publishLine(data.subarray(start, i));
        start = i + 1;
      }
      if (start < data.length) {
        pending.push(data.slice(start));
        pendingBytes += data.length - start;
      }
      return data.length;
    },
    async truncate() {},
    async stat() {
      return { type: 'stream', size: 0, mode: 0o644, mtimeMs: Date.now() };
    },
    async flush() {
      flushPartial();
    },
    async close() {
      flushPartial();
      node.subscribers.delete(subscriber);
      ended = true;
      wake();
    },
  };
}
