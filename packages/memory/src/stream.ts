import { createInbox, ShylockError, createStreamHandle, type FileHandle, type OpenFlags } from '@shylock/core';

/** A message channel: every reader open at publish time receives each message once. */
export interface StreamNode {
  kind: 'stream';
  /** Receives each message (without its newline), or `null` when the stream is deleted. */
  subscribers: Set<(message: Uint8Array | null) => void>;
  /** True once the stream file is removed. */
  deleted: boolean;
  publish(message: Uint8Array): void;
  end(): void;
}

/**
 * Opens a stream file. Reading subscribes at open: `read` returns the messages published since,
 * newline-terminated, and waits while there are none (it returns 0 only once the handle is closed
 * or the stream deleted). Writing publishes one message per line; a last line without a newline
 * is published at flush/close. A reader more than `backlog` messages behind loses the oldest.
 */
export function openStream(node: StreamNode, path: string, flags: OpenFlags, backlog: number): FileHandle {
  const inbox = createInbox(backlog);
  const subscriber = (message: Uint8Array | null) => (message === null ? inbox.end() : inbox.push(message));
  if (flags.read) node.subscribers.add(subscriber);
  return createStreamHandle({
    path,
    backend: 'memory',
    flags,
    receive: (signal) => inbox.receive(signal),
    async publish(messages) {
      if (node.deleted) throw new ShylockError('ENOENT', `write ${path}: the stream was deleted`, { op: 'write', path });
      for (const m of messages) node.publish(m);
    },
    async release() {
      node.subscribers.delete(subscriber);
    },
  });
}
