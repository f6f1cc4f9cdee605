import type { IncomingMessage } from 'node:http';
import { ShylockError } from '@shylock/core';
import type { StoreLimits, UploadedPart } from './store.js';

/**
 * The sizes of Google's resumable uploads (Cloud Storage, Drive): chunks are multiples of 256 KiB
 * (the last one any size), as many as needed, objects up to 5 TiB.
 */
export const RESUMABLE_LIMITS: StoreLimits = Object.freeze({
  minPartSize: 256 * 1024,
  maxPartSize: 5 * 2 ** 40,
  maxParts: Number.MAX_SAFE_INTEGER,
  maxObjectSize: 5 * 2 ** 40,
  partMultiple: 256 * 1024,
});

/** Sends one HTTP request; resolves with the response, whatever its status. */
export type Send = (method: string, url: string, headers: Record<string, string>, body?: Uint8Array) => Promise<IncomingMessage>;

/** Options of {@link resumableUploads}. */
export interface ResumableOptions {
  /** The store's name, for errors: `'gcs'`. */
  store: string;
  /** Where the objects live, for messages. */
  where: string;
  /** Every chunk but the last is a multiple of this many bytes (256 KiB for Google's uploads). */
  multiple: number;
  send: Send;
  /** A response that is not a success, as the error to throw (the adapter's error mapping takes it). */
  failure: (res: IncomingMessage) => Promise<Error>;
}

/** One upload session: its URI and how far it has got. */
interface Session {
  key: string;
  uri: string;
  /** Bytes the server holds. */
  stored: number;
  /** Where each part ends, once sent (or held). */
  ends: Map<number, number>;
  /** A last part shorter than a chunk can be: sent with the total when the upload completes. */
  held?: { number: number; body: Buffer };
  /** Parts go one after the other. */
  queue: Promise<unknown>;
}

/**
 * Google's resumable upload protocol (Cloud Storage, Drive), as the parts of an
 * {@link ObjectStore} upload: each part is a chunk PUT to the session URI with its
 * `Content-Range`, in order; the server answers 308 with the `Range` it holds, which is where the
 * next try starts from; a short part is held until the upload completes, then sent with the total
 * size. The session is made by the adapter (its metadata differs) and handed to `open`.
 */
export function resumableUploads(o: ResumableOptions) {
  const sessions = new Map<string, Session>();
  const text = async (res: IncomingMessage) => {
    const parts: Buffer[] = [];
    for await (const c of res) parts.push(c as Buffer);
    return Buffer.concat(parts).toString('utf8');
  };

  /** Sends body as the bytes from `start` of a session, until the server holds them all; the final answer's JSON. */
  const sendChunk = async (s: Session, start: number, body: Uint8Array, total?: number): Promise<unknown> => {
    const end = start + body.length;
    for (let attempt = 0; ; attempt++) {
      const from = Math.max(start, s.stored);
      const bytes = body.subarray(from - start);
      const range = bytes.length > 0 ? `bytes ${from}-${end - 1}/${total ?? '*'}` : `bytes */${total ?? '*'}`;
      const res = await o.send('PUT', s.uri, { 'Content-Range': range }, bytes);
      if (res.statusCode === 200 || res.statusCode === 201) {
        s.stored = end;
        const answer = await text(res);
        return answer ? (JSON.parse(answer) as unknown) : undefined;
      }
      if (res.statusCode === 308) {
        res.resume();
        // What the server holds: `Range: bytes=0-N` (none when it holds nothing).
        const held = /bytes=0-(\d+)/.exec(res.headers.range ?? '');
        s.stored = held ? Number(held[1]) + 1 : 0;
        if (s.stored >= end && total === undefined) return undefined;
        if (attempt < 3) continue;
        throw new ShylockError('EIO', `upload ${s.key}: ${o.where} kept ${s.stored} of the ${end} bytes sent; the upload stops here`);
      }
      if (res.statusCode === 404 || res.statusCode === 410) {
        res.resume();
        throw new ShylockError(
          'EIO',
          `upload ${s.key}: the upload session is gone from ${o.where} (the server restarted, or the session expired)`,
          {
            op: 'upload',
            backend: o.store,
          },
        );
      }
      throw await o.failure(res);
    }
  };
  const session = (key: string, id: string) => {
    const s = sessions.get(id);
    if (!s) throw new ShylockError('EIO', `upload ${key}: no upload ${id} in ${o.where}; it was completed or aborted`);
    return s;
  };
  /** Runs `work` after everything queued on the session. */
  const inOrder = <T>(s: Session, work: () => Promise<T>): Promise<T> => {
    const p = s.queue.then(work);
    s.queue = p.catch(() => {});
    return p;
  };

  return {
    /** A session the adapter started at `uri`; its id (the URI) names it in the calls below. */
    open(key: string, uri: string): string {
      sessions.set(uri, { key, uri, stored: 0, ends: new Map(), queue: Promise.resolve() });
      return uri;
    },
    /** Stores part `n` (from 1) after the parts before it; resolves with its tag. */
    part(key: string, id: string, n: number, body: Uint8Array): Promise<string> {
      const s = session(key, id);
      return inOrder(s, async () => {
        const start = n === 1 ? 0 : s.ends.get(n - 1);
        if (start === undefined) throw new ShylockError('EIO', `upload ${key}: part ${n - 1} was not stored, so part ${n} can't follow it`);
        if (s.held && s.held.number < n) throw new ShylockError('EIO', `upload ${key}: only the last part may be short`);
        s.ends.set(n, start + body.length);
        for (const later of [...s.ends.keys()]) if (later > n) s.ends.delete(later);
        if (body.length % o.multiple !== 0) {
          // A short chunk is taken only as the last, with the total size: kept till then.
          s.held = { number: n, body: Buffer.from(body) };
          return `held-${n}`;
        }
        if (s.held?.number === n) s.held = undefined;
        await sendChunk(s, start, body);
        return String(n);
      });
    },
    /** Completes the upload with its total size; resolves with the server's answer (JSON). */
    complete(key: string, id: string, parts: UploadedPart[]): Promise<unknown> {
      const s = session(key, id);
      return inOrder(s, async () => {
        const last = parts.at(-1)?.partNumber ?? 0;
        const total = last === 0 ? 0 : s.ends.get(last);
        if (total === undefined) throw new ShylockError('EIO', `upload ${key}: part ${last} was not stored`);
        const held = s.held?.number === last ? s.held : undefined;
        const out = held
          ? await sendChunk(s, total - held.body.length, held.body, total)
          : await sendChunk(s, total, new Uint8Array(0), total);
        sessions.delete(id);
        return out;
      });
    },
    /** Cancels the session (a DELETE of its URI); a session already gone is no error. */
    async abort(_key: string, id: string): Promise<void> {
      sessions.delete(id);
      const res = await o.send('DELETE', id, {});
      res.resume();
      // 499: cancelled; 404/410: already gone.
      if (res.statusCode !== 499 && res.statusCode !== 404 && res.statusCode !== 410 && res.statusCode! >= 300) {
        throw Object.assign(new Error(`HTTP ${res.statusCode}`), { code: res.statusCode });
      }
    },
  };
}
