import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { ShylockError } from '@shylock/core';
import { kafkaError } from './errors.js';

/** Bytes a follower keeps fetched ahead of `read` before its consumer waits. */
const READ_AHEAD = 16 << 20;
/** The prefix of the throwaway groups followers read in; `ls .groups` leaves them out. */
export const FOLLOW_GROUP = 'shylock-follow-';
/** Bytes per partition a fetch may bring (kafkajs brings 1 MiB): fewer, larger fetches. */
const FETCH_BYTES = 4 << 20;
/** Bytes a group member keeps fetched ahead of `read` (dropped if the group rebalances). */
const MEMBER_AHEAD = 8 << 20;
/** How often a group member waiting for its reader tells the coordinator it lives, ms. */
const HEARTBEAT_MS = 1000;

/** What a reader reads. */
export interface ReadSpec {
  topic: string;
  path: string;
  /** Read as a member of this consumer group, committing what reads returned. */
  group?: string;
  /** Read only this partition (in a throwaway group). */
  partition?: number;
  /** With `partition`: the first offset to read (default the earliest). */
  from?: string;
}

/** What a reader needs of its backend. */
export interface ReadContext {
  kafka: Kafka;
  where: string;
  /** Consumers alive, so the backend's close can stop them. */
  consumers: Set<Consumer>;
  toLine(key: Buffer | null, value: Buffer | null): Uint8Array;
}

/** A member's fetch: its messages' lines are in the queue, in the same order. */
interface Fetch {
  partition: number;
  messages: KafkaMessage[];
}

const next = (offset: string) => (BigInt(offset) + 1n).toString();

/**
 * The reading half of an open topic file, started at the first read (a file `>` opens for reading
 * and writing costs no consumer).
 *
 * - Following (no group): a consumer of its own in a throwaway group that commits nothing, from
 *   the earliest offset (or, for one partition, from `from`), keeping up to READ_AHEAD bytes
 *   fetched ahead.
 * - As a group member: the group's committed offsets say where to start (the earliest offset for
 *   a group with none). Up to MEMBER_AHEAD bytes are fetched ahead; the offsets of what a receive
 *   hands to `read` are committed then. Lines handed out and not read by close are given back
 *   (their offsets committed again, lower) while the partition is still this member's. When the
 *   group rebalances, lines fetched and not handed out are dropped for the partition's next owner.
 */
export function reading(spec: ReadSpec, ctx: ReadContext) {
  const { topic, path, group, partition } = spec;
  /** Lines fetched and not handed out, and (members) the fetches they came in. */
  let queue: Uint8Array[] = [];
  let fetches: Fetch[] = [];
  let queued = 0;
  let failure: ShylockError | undefined;
  let wake: (() => void) | undefined;
  let taken: (() => void) | undefined;
  let started: Promise<Consumer> | undefined;
  let released = false;
  /** Fetches the last receive handed out: the handle reads them all before it asks again. */
  let handed: Fetch[] = [];
  /** Joins of the group seen: an entry handed out before the last one may be another's now. */
  let generation = 0;
  let handedGeneration = 0;
  /** Per partition, the offset after the last entry handed out in this generation. */
  const position = new Map<number, string>();
  /** A member between the start of a rebalance and its next join: it hands nothing out. */
  let rebalancing = false;
  /** The commits sent, in order: close waits for them before it moves any back. */
  let committing: Promise<unknown> = Promise.resolve();
  /** Following: per partition, the offset after the last message queued. */
  const fetched = new Map<number, string>();
  if (partition !== undefined && spec.from !== undefined) fetched.set(partition, spec.from);

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const wokenByTake = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      taken = () => {
        clearTimeout(t);
        resolve();
      };
    });

  /** Follow: lines go into the queue; the consumer waits while READ_AHEAD bytes are unread. */
  const follow = async ({ batch, heartbeat, isRunning, isStale, pause }: EachBatchPayload) => {
    if (partition !== undefined && batch.partition !== partition) {
      // Reading one partition: the others are not fetched again.
      pause();
      return;
    }
    if (!isRunning() || isStale()) return;
    for (const m of batch.messages) {
      const line = ctx.toLine(m.key, m.value);
      queue.push(line);
      queued += line.length;
    }
    const last = batch.messages.at(-1);
    if (last) fetched.set(batch.partition, next(last.offset));
    notify();
    while (queued > READ_AHEAD && isRunning() && !released) {
      await wokenByTake(1000);
      await heartbeat().catch(() => undefined);
    }
  };

  /** Drops what was fetched and not handed out: the partitions may be another member's next. */
  const dropQueued = () => {
    queue = [];
    fetches = [];
    queued = 0;
  };

  /**
   * Member: lines go into the queue (kafkajs fetches on from after them; nothing is committed
   * until a read takes them), up to MEMBER_AHEAD bytes. When the group rebalances, whatever the
   * queue holds is dropped, so the partition's next owner reads it from the last commit.
   */
  const member = async ({ batch, heartbeat, isRunning, isStale }: EachBatchPayload) => {
    if (!isRunning() || isStale() || released || rebalancing) return;
    for (const m of batch.messages) {
      const line = ctx.toLine(m.key, m.value);
      queue.push(line);
      queued += line.length;
    }
    if (batch.messages.length > 0) fetches.push({ partition: batch.partition, messages: batch.messages });
    notify();
    while (queued > MEMBER_AHEAD && isRunning() && !released) {
      await wokenByTake(HEARTBEAT_MS);
      try {
        await heartbeat();
      } catch (e) {
        dropQueued();
        throw e;
      }
    }
  };

  /** Commits, per partition, the offset after the last line handed out. */
  const commitHanded = (consumer: Consumer, handedOut: Fetch[]) => {
    const after = new Map<number, string>();
    for (const f of handedOut) after.set(f.partition, next(f.messages.at(-1)!.offset));
    for (const [p, offset] of after) position.set(p, offset);
    const offsets = [...after].map(([p, offset]) => ({ topic, partition: p, offset }));
    // Not waited for: sent at once, on the coordinator's connection before any rejoin is, so
    // the brokers apply it first even when a rebalance is starting.
    const commit = consumer.commitOffsets(offsets);
    committing = committing.then(() => commit.catch(() => undefined));
  };

  const start = async (): Promise<Consumer> => {
    const consumer = ctx.kafka.consumer({
      groupId: group ?? `${FOLLOW_GROUP}${randomUUID()}`,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 500,
      maxBytesPerPartition: FETCH_BYTES,
      maxBytes: 4 * FETCH_BYTES,
    });
    ctx.consumers.add(consumer);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // kafkajs restarts a consumer after a passing fault; one it gives up on ends the reader.
      if (!payload.restart) {
        failure = kafkaError(payload.error, 'read', path, ctx.where);
        notify();
      }
    });
    consumer.on(consumer.events.REBALANCING, () => {
      if (group === undefined) return;
      rebalancing = true;
      dropQueued();
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      generation++;
      position.clear();
      if (group !== undefined) {
        // Joined again, perhaps after being dropped by the coordinator without a rebalance seen.
        rebalancing = false;
        dropQueued();
      }
      // A follower's group commits nothing: after it joins again (the brokers were away), it
      // goes on from where it was, not from the earliest offset.
      if (group === undefined && generation > 1) for (const [p, offset] of fetched) consumer.seek({ topic, partition: p, offset });
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: group === undefined ? follow : member,
      });
      if (partition !== undefined && spec.from !== undefined) consumer.seek({ topic, partition, offset: spec.from });
    } catch (e) {
      ctx.consumers.delete(consumer);
      await consumer.disconnect().catch(() => undefined);
      throw kafkaError(e, 'read', path, ctx.where);
    }
    return consumer;
  };

  return {
    receive: async (signal: AbortSignal): Promise<Uint8Array[]> => {
      if (!started) {
        started = start();
        // A consumer that could not start is tried again by the next read.
        started.catch(() => (started = undefined));
      }
      const consumer = await started;
      while (queue.length === 0 || rebalancing) {
        if (failure) throw failure;
        if (signal.aborted) throw new ShylockError('ECANCELED', `read ${path}: the file was closed`, { op: 'read', path });
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener('abort', done);
            resolve();
          };
          wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
      }
      const lines = queue;
      handed = fetches;
      handedGeneration = generation;
      dropQueued();
      if (group !== undefined) commitHanded(consumer, handed);
      const t = taken;
      taken = undefined;
      t?.();
      return lines;
    },
    /**
     * Stops the consumer. A member first commits, per partition it still holds, the offset after
     * the last line read: lines handed out but not read (`unread`) are read again by the group.
     */
    release: async (unread: Uint8Array[]) => {
      if (released) return;
      released = true;
      taken?.();
      const consumer = await started?.catch(() => undefined);
      if (!consumer) return;
      try {
        await committing;
        if (group !== undefined && handedGeneration === generation) {
          // The last unread.length lines handed out: each partition goes back to its first.
          let back = unread.length;
          for (let f = handed.length - 1; f >= 0 && back > 0; f--) {
            const { partition: p, messages } = handed[f]!;
            const count = Math.min(back, messages.length);
            position.set(p, messages[messages.length - count]!.offset);
            back -= count;
          }
          const offsets = [...position].map(([p, offset]) => ({ topic, partition: p, offset }));
          if (offsets.length > 0) await consumer.commitOffsets(offsets).catch(() => undefined);
        }
      } finally {
        ctx.consumers.delete(consumer);
        await consumer.disconnect().catch(() => undefined);
      }
    },
  };
}
