import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  createBufferedHandle,
  createStreamHandle,
  defineBackend,
  dirStat,
  optionsFrom,
  readOnly as readOnlyLayer,
  ShylockError,
  streamStat,
  type Backend,
  type DirEntry,
  type FileHandle,
  type OpenFlags,
  type Stat,
} from '@shylock/core';
import { sqsError } from './errors.js';
import { SQS_OPTIONS, type SqsBackendOptions } from './options.js';

/** SQS's limit on one message's body, and on a whole SendMessageBatch. */
export const SQS_MAX_MESSAGE = 262_144;
/** Entries SQS takes in one batch request (send, delete, change visibility). */
const BATCH = 10;
/** Batches a writer keeps in flight on a standard queue (a FIFO queue: one, in order). */
const SENDS_IN_FLIGHT = 4;
/** Bytes a writer may have written and not yet had accepted before its writes wait. */
const WRITE_AHEAD = 4 << 20;
/** The directory of read-only files holding each queue's attributes. */
export const ATTRIBUTES = '.attributes';
/** How long the list of queues and their URLs answer `ls` and `stat`, ms. */
const QUEUES_TTL = 2000;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$|^[A-Za-z0-9_-]{1,75}\.fifo$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

type Place = { kind: 'root' } | { kind: 'attributes' } | { kind: 'queue'; queue: string } | { kind: 'attributesOf'; queue: string };

/**
 * True when a line can be an SQS body: UTF-8 text of the characters XML allows (tab, CR and
 * U+0020 up; no other control characters). SQS refuses the rest.
 */
function isBodyText(line: Uint8Array): boolean {
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    if (b < 0x20 && b !== 0x09 && b !== 0x0d) return false;
    if (b >= 0x80) {
      try {
        const text = decoder.decode(line);
        // U+FFFE and U+FFFF are not XML characters either.
        return !/[\uFFFE\uFFFF]/.test(text);
      } catch {
        return false;
      }
    }
  }
  return true;
}

/**
 * Amazon SQS queues as files. The root lists the queues; `/<queue>` is a stream: each line
 * written is a message (sent in batches of up to 10, accepted by SQS before `flush`/`fsync`/
 * `close` returns), and a read long-polls and returns messages newline-terminated. A message is
 * deleted once the read that returned it was answered (when the reader asks for more, or closes):
 * a reader that dies before that lets it come back after the visibility timeout (at-least-once).
 * Messages received and never read go back to the queue at close. `/.attributes/<queue>` holds
 * the queue's attributes (message counts among them), one `Name=value` a line. Creating a file
 * creates its queue (a `.fifo` name makes a FIFO queue); `rm` deletes one when `allowDelete` is set.
 *
 * ```ts
 * const sqs = sqsBackend({ endpoint: 'http://127.0.0.1:9324', waitSeconds: 20 });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function sqsBackend(options: SqsBackendOptions = {}): Backend {
  options = { ...optionsFrom(SQS_OPTIONS, options as unknown as Record<string, unknown>), ...options } as SqsBackendOptions;
  if (options.endpoint !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(options.endpoint)) {
    throw new ShylockError('EINVAL', `sqs: --endpoint "${options.endpoint}" must be a URL such as http://127.0.0.1:9324`);
  }
  const waitSeconds = options.waitSeconds ?? 20;
  if (!Number.isInteger(waitSeconds) || waitSeconds < 0 || waitSeconds > 20) {
    throw new ShylockError('EINVAL', `sqs: waitSeconds must be a whole number from 0 to 20, got ${waitSeconds}`);
  }
  const groupId = options.groupId ?? 'shylock';
  if (!/^[\x21-\x7e]{1,128}$/.test(groupId)) {
    throw new ShylockError('EINVAL', `sqs: --group-id "${groupId}" must be 1 to 128 printable ASCII characters`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const region = options.region ?? 'us-east-1';
  const where = options.endpoint ? `SQS at ${options.endpoint}` : `SQS in ${region}`;
  const clientOptions = (requestTimeout: number) => ({
    region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: Math.min(timeoutMs, 10_000), requestTimeout },
    ...options.client,
  });
  // Long polls may take their wait on top of the timeout; every other request only the timeout.
  const client = new SQSClient(clientOptions(timeoutMs));
  const polling = new SQSClient(clientOptions(timeoutMs + waitSeconds * 1000));

  const guard = async <T>(op: string, path: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw sqsError(e, op, path, where);
    }
  };

  // Queue names and URLs, fetched together and kept briefly.
  let queues: { until: number; urls: Promise<Map<string, string>> } | undefined;
  const listQueues = async (): Promise<Map<string, string>> => {
    const urls = new Map<string, string>();
    let NextToken: string | undefined;
    do {
      const page = await client.send(new ListQueuesCommand({ MaxResults: 1000, ...(NextToken ? { NextToken } : {}) }));
      for (const url of page.QueueUrls ?? []) urls.set(url.slice(url.lastIndexOf('/') + 1), url);
      NextToken = page.NextToken;
    } while (NextToken);
    return urls;
  };
  const queueUrls = (fresh = false) => {
    if (fresh || !queues || queues.until < Date.now()) {
      const urls = listQueues();
      queues = { until: Date.now() + QUEUES_TTL, urls };
      urls.catch(() => {
        if (queues?.urls === urls) queues = undefined;
      });
    }
    return queues.urls;
  };
  /** The queue's URL, or undefined when there is no such queue. */
  const urlOf = async (queue: string): Promise<string | undefined> => {
    const known = (await queueUrls()).get(queue);
    if (known) return known;
    try {
      const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: queue }));
      return QueueUrl;
    } catch (e) {
      if (sqsError(e, 'open', queue, where).code === 'ENOENT') return undefined;
      throw e;
    }
  };
  const needQueue = async (op: string, path: string, queue: string, hint = ''): Promise<string> => {
    const url = await urlOf(queue);
    if (!url) throw new ShylockError('ENOENT', `${op} ${path}: no queue ${queue} at ${where}${hint}`, { op, path, backend: 'sqs' });
    return url;
  };
  const createQueue = async (queue: string): Promise<string> => {
    const fifo = queue.endsWith('.fifo');
    const Attributes: Record<string, string> = {
      ...(fifo ? { FifoQueue: 'true' } : {}),
      ...(options.visibilityTimeout !== undefined ? { VisibilityTimeout: String(options.visibilityTimeout) } : {}),
      ...options.queueAttributes,
    };
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: queue, Attributes }));
    queues = undefined;
    return QueueUrl!;
  };

  const place = (op: string, path: string): Place => {
    if (path === '/') return { kind: 'root' };
    const parts = path.slice(1).split('/');
    if (parts[0] === ATTRIBUTES) {
      if (parts.length === 1) return { kind: 'attributes' };
      if (parts.length === 2 && QUEUE_NAME.test(parts[1]!)) return { kind: 'attributesOf', queue: parts[1]! };
    } else if (parts.length === 1 && QUEUE_NAME.test(parts[0]!)) {
      return { kind: 'queue', queue: parts[0]! };
    }
    throw new ShylockError(
      op === 'create' ? 'EINVAL' : 'ENOENT',
      `${op === 'create' ? 'open' : op} ${path}: ${op === 'create' ? 'not a queue name' : 'no such queue'} (a queue name is up to 80 letters, digits, - and _; a FIFO queue's ends in .fifo)`,
      { op: op === 'create' ? 'open' : op, path, backend: 'sqs' },
    );
  };

  const attributesText = async (url: string): Promise<Uint8Array> => {
    const { Attributes = {} } = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    const lines = Object.entries(Attributes)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}\n`);
    return encoder.encode(lines.join(''));
  };

  /** The writer of one handle: lines queued, sent in batches in the background, settled at close. */
  const sending = (url: string, path: string, fifo: boolean) => {
    let queue: Uint8Array[] = [];
    let unaccepted = 0;
    let failure: ShylockError | undefined;
    let inFlight = 0;
    const idle: (() => void)[] = [];
    const wake = () => {
      if (inFlight === 0 && (queue.length === 0 || failure)) for (const f of idle.splice(0)) f();
    };
    /** The next batch: up to 10 lines and 256 KiB of them. */
    const nextBatch = (): Uint8Array[] => {
      let n = 0;
      let bytes = 0;
      while (n < queue.length && n < BATCH && (n === 0 || bytes + queue[n]!.length <= SQS_MAX_MESSAGE)) bytes += queue[n++]!.length;
      const batch = queue.slice(0, n);
      queue = queue.slice(n);
      return batch;
    };
    const send = async (batch: Uint8Array[]) => {
      const Entries: SendMessageBatchRequestEntry[] = batch.map((line, i) => ({
        Id: String(i),
        MessageBody: Buffer.from(line.buffer, line.byteOffset, line.length).toString('utf8'),
        ...(fifo ? { MessageGroupId: groupId, MessageDeduplicationId: randomUUID() } : {}),
      }));
      let failed: Uint8Array[] = [];
      try {
        const out = await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries }));
        if (out.Failed?.length) {
          failed = out.Failed.map((f) => batch[Number(f.Id)]!);
          const first = out.Failed[0]!;
          const cause = sqsError({ name: first.Code, message: first.Message }, 'write', path, where);
          failure ??= new ShylockError(
            first.SenderFault && cause.code !== 'EIO' ? cause.code : 'EIO',
            `${cause.message}; ${out.Failed.length} of ${batch.length} lines were refused (fsync retries them)`,
            { op: 'write', path, backend: 'sqs', cause: first },
          );
        }
      } catch (e) {
        failed = batch;
        const cause = sqsError(e, 'write', path, where);
        failure ??= new ShylockError(
          cause.code === 'ENOENT' ? 'EIO' : cause.code,
          `${cause.message}; lines are not stored (fsync retries them)`,
          {
            op: 'write',
            path,
            backend: 'sqs',
            cause: e,
            retryable: cause.retryable,
          },
        );
      }
      for (const line of batch) unaccepted -= line.length;
      if (failed.length > 0) {
        // Kept, first in line, for the next flush: nothing written is dropped.
        queue = [...failed, ...queue];
        for (const line of failed) unaccepted += line.length;
      }
    };
    const pump = () => {
      const most = fifo ? 1 : SENDS_IN_FLIGHT;
      while (!failure && inFlight < most && queue.length > 0) {
        const batch = nextBatch();
        inFlight++;
        void send(batch).finally(() => {
          inFlight--;
          pump();
          wake();
        });
      }
      wake();
    };
    const drained = () =>
      new Promise<void>((resolve) => {
        idle.push(resolve);
        wake();
      });
    return {
      publish: async (lines: Uint8Array[]) => {
        if (failure) throw failure;
        for (const line of lines) {
          if (!isBodyText(line)) {
            throw new ShylockError(
              'EINVAL',
              `write ${path}: a line holds bytes SQS refuses in a message (control characters or invalid UTF-8): send text, e.g. base64`,
              { op: 'write', path, backend: 'sqs' },
            );
          }
        }
        for (const line of lines) {
          queue.push(line);
          unaccepted += line.length;
        }
        pump();
        while (unaccepted > WRITE_AHEAD && !failure) await drained();
        if (failure) throw failure;
      },
      /** Every line written is accepted; lines a failed request held are sent once more first. */
      settle: async () => {
        failure = undefined;
        pump();
        await drained();
        if (failure) throw failure;
      },
    };
  };

  /**
   * The reader of one handle: long polls, deletes what was read, gives back what was not. A
   * reader that keeps reading full batches has the next receive started as it is handed one
   * (one batch ahead), so the reading and the round trip to SQS overlap.
   */
  const receiving = (url: string, path: string) => {
    /** Messages of the last receive: all read when the next receive starts. */
    let handed: Message[] = [];
    /**
     * Messages asked for per receive: 1 at first, doubling up to 10 while the reader keeps
     * reading, so a reader that takes one line does not hold nine more from the others.
     */
    let want = 1;
    /** The receive started ahead, and what it brought once it came. */
    let ahead: Promise<Message[]> | undefined;
    let aheadMessages: Message[] = [];
    const deletions = new Set<Promise<unknown>>();
    let visibility: Promise<number> | undefined;
    let keepAlive: NodeJS.Timeout | undefined;
    const batches = <T>(items: T[]) =>
      Array.from({ length: Math.ceil(items.length / BATCH) }, (_, i) => items.slice(i * BATCH, i * BATCH + BATCH));
    const remove = (messages: Message[]) => {
      for (const batch of batches(messages)) {
        const p = client
          .send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: batch.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          )
          // A failed delete only lets the message come back: at-least-once.
          .catch(() => undefined)
          .finally(() => deletions.delete(p));
        deletions.add(p);
      }
    };
    const setVisibility = (messages: Message[], seconds: number) =>
      Promise.all(
        batches(messages).map((batch) =>
          client
            .send(
              new ChangeMessageVisibilityBatchCommand({
                QueueUrl: url,
                Entries: batch.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: seconds })),
              }),
            )
            .catch(() => undefined),
        ),
      );
    /** While messages are held unread, their visibility is renewed at half the queue's timeout. */
    const holdWhileUnread = () => {
      visibility ??= client
        .send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['VisibilityTimeout'] }))
        .then((a) => Number(a.Attributes?.VisibilityTimeout ?? 30))
        .catch(() => 30);
      clearInterval(keepAlive);
      const held = handed;
      void visibility.then((seconds) => {
        if (handed !== held || seconds < 2) return;
        keepAlive = setInterval(() => void setVisibility([...handed, ...aheadMessages], seconds), (seconds * 1000) / 2);
        keepAlive.unref();
      });
    };
    const receiveOnce = async (signal: AbortSignal): Promise<Message[]> => {
      const out = await polling.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: want, WaitTimeSeconds: waitSeconds }),
        { abortSignal: signal },
      );
      return out.Messages ?? [];
    };
    return {
      receive: async (signal: AbortSignal): Promise<Uint8Array[] | null> => {
        clearInterval(keepAlive);
        // Everything handed out before was read: the reads that returned it were answered.
        if (handed.length > 0) remove(handed);
        handed = [];
        for (;;) {
          if (signal.aborted) return null;
          let messages: Message[];
          try {
            const next = ahead ?? receiveOnce(signal);
            ahead = undefined;
            messages = await next;
            aheadMessages = [];
          } catch (e) {
            if (signal.aborted) return null;
            throw sqsError(e, 'read', path, where);
          }
          if (messages.length === 0) {
            // A short poll (wait 0) on an empty queue: don't spin.
            if (waitSeconds === 0) await new Promise((r) => setTimeout(r, 200));
            continue;
          }
          handed = messages;
          if (messages.length === BATCH && want === BATCH) {
            const next = receiveOnce(signal);
            ahead = next;
            next.then(
              (m) => {
                if (ahead === next) aheadMessages = m;
              },
              () => undefined,
            );
          }
          want = Math.min(BATCH, want * 2);
          holdWhileUnread();
          return messages.map((m) => encoder.encode(m.Body ?? ''));
        }
      },
      /** Deletes what was read; what was handed out and not read goes back to the queue at once. */
      release: async (unread: Uint8Array[]) => {
        clearInterval(keepAlive);
        const back = unread.length > 0 ? handed.slice(handed.length - unread.length) : [];
        const read = handed.slice(0, handed.length - back.length);
        handed = [];
        if (read.length > 0) remove(read);
        // The receive started ahead was aborted with the handle; what it brought goes back too.
        if (ahead) back.push(...(await ahead.catch(() => [] as Message[])));
        ahead = undefined;
        aheadMessages = [];
        await Promise.all([setVisibility(back, 0), ...deletions]);
      },
    };
  };

  const backend = defineBackend({
    name: 'sqs',
    capabilities: { list: true, streams: true, unlink: true },
    stat: (path) =>
      guard('stat', path, async (): Promise<Stat> => {
        const p = place('stat', path);
        switch (p.kind) {
          case 'root':
          case 'attributes':
            return dirStat();
          case 'queue':
            await needQueue('stat', path, p.queue);
            return streamStat();
          case 'attributesOf': {
            const text = await attributesText(await needQueue('stat', path, p.queue));
            return { type: 'file', size: text.length, mode: 0o444, mtimeMs: Date.now() };
          }
        }
      }),
    list: (path) =>
      guard('list', path, async (): Promise<DirEntry[]> => {
        const p = place('list', path);
        const names = async () => [...(await queueUrls(true)).keys()].sort();
        switch (p.kind) {
          case 'root':
            return [
              { name: ATTRIBUTES, type: 'directory', stat: dirStat() },
              ...(await names()).map((name): DirEntry => ({ name, type: 'stream', stat: streamStat() })),
            ];
          case 'attributes':
            return (await names()).map(
              (name): DirEntry => ({ name, type: 'file', stat: { type: 'file', size: 0, mode: 0o444, mtimeMs: Date.now() } }),
            );
          default:
            throw new ShylockError('ENOTDIR', `list ${path}: not a directory`, { op: 'list', path, backend: 'sqs' });
        }
      }),
    open: (path, flags: OpenFlags) =>
      guard('open', path, async (): Promise<FileHandle> => {
        const p = place(flags.create ? 'create' : 'open', path);
        if (p.kind === 'root' || p.kind === 'attributes') {
          throw new ShylockError(flags.create && p.kind !== 'root' ? 'EEXIST' : 'EISDIR', `open ${path}: is a directory`, {
            op: 'open',
            path,
            backend: 'sqs',
          });
        }
        if (p.kind === 'attributesOf') {
          if (flags.write) {
            throw new ShylockError('EROFS', `open ${path}: a queue's attributes are for reading`, { op: 'open', path, backend: 'sqs' });
          }
          return createBufferedHandle({
            path,
            backend: 'sqs',
            flags,
            initial: await attributesText(await needQueue('open', path, p.queue)),
            commit: () =>
              Promise.reject(new ShylockError('EROFS', `write ${path}: a queue's attributes are for reading`, { op: 'write', path })),
          });
        }
        let url = await urlOf(p.queue);
        if (!url) {
          if (!flags.create) {
            throw new ShylockError('ENOENT', `open ${path}: no queue ${p.queue} at ${where} (creating the file creates it)`, {
              op: 'open',
              path,
              backend: 'sqs',
            });
          }
          url = await createQueue(p.queue);
        } else if (flags.create && flags.exclusive) {
          throw new ShylockError('EEXIST', `open ${path}: the queue ${p.queue} exists`, { op: 'open', path, backend: 'sqs' });
        }
        const writer = flags.write ? sending(url, path, p.queue.endsWith('.fifo')) : undefined;
        const reader = flags.read ? receiving(url, path) : undefined;
        return createStreamHandle({
          path,
          backend: 'sqs',
          flags,
          maxMessageBytes: SQS_MAX_MESSAGE,
          ...(writer ? { publish: writer.publish, settle: writer.settle } : {}),
          ...(reader ? { receive: reader.receive, release: reader.release } : {}),
        });
      }),
    unlink: (path) =>
      guard('unlink', path, async () => {
        const p = place('unlink', path);
        if (p.kind !== 'queue') {
          throw new ShylockError('EPERM', `unlink ${path}: only a queue's file at the root can be removed (it deletes the queue)`, {
            op: 'unlink',
            path,
            backend: 'sqs',
          });
        }
        if (!options.allowDelete) {
          throw new ShylockError('EPERM', `unlink ${path}: deleting queues is off; mount with --allow-delete to let rm delete ${p.queue}`, {
            op: 'unlink',
            path,
            backend: 'sqs',
          });
        }
        const url = await needQueue('unlink', path, p.queue);
        await client.send(new DeleteQueueCommand({ QueueUrl: url }));
        queues = undefined;
      }),
    mkdir: (path) =>
      guard('mkdir', path, async () => {
        const p = place('mkdir', path);
        if (p.kind === 'root' || p.kind === 'attributes')
          throw new ShylockError('EEXIST', `mkdir ${path}: it exists`, { op: 'mkdir', path });
        throw new ShylockError('EPERM', `mkdir ${path}: a queue is a file, not a directory: create it with touch`, {
          op: 'mkdir',
          path,
          backend: 'sqs',
        });
      }),
    close: async () => {
      client.destroy();
      polling.destroy();
    },
  });
  return options.readOnly ? readOnlyLayer(backend) : backend;
}
