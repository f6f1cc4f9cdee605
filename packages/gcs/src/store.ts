import { Storage, type StorageOptions } from '@google-cloud/storage';
import { ShylockError, type OpOptions } from '@shylock/core';
import {
  httpClient,
  readRange,
  RESUMABLE_LIMITS,
  resumableUploads,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type ObjectStore,
  type ReadOptions,
  type StoreLimits,
  type UploadedPart,
} from '@shylock/objects';
import { gcsError } from './errors.js';

/** Options of {@link gcsStore}. */
export interface GcsStoreOptions {
  bucket: string;
  /** Another endpoint than Cloud Storage's, such as an emulator (`http://127.0.0.1:4443`). */
  endpoint?: string;
  /** The project (default: from the credentials, or `$GOOGLE_CLOUD_PROJECT`). */
  projectId?: string;
  /** A service account key file; default: application default credentials. */
  keyFilename?: string;
  /** Milliseconds a connection or an idle response may take before ETIMEDOUT (default 30000). */
  timeoutMs?: number;
  /** Attempts per metadata request, with the client's backoff (default 3). */
  maxAttempts?: number;
  /** More settings for the Storage client (credentials, retry options …); they win. */
  storage?: StorageOptions;
}

/**
 * Cloud Storage's upload sizes: resumable uploads take chunks that are multiples of 256 KiB (the
 * last one any size), as many as needed, objects up to 5 TiB.
 */
export const GCS_LIMITS: StoreLimits = RESUMABLE_LIMITS;

/** An object's metadata in the JSON API. */
interface ObjectResource {
  name: string;
  size?: string;
  updated?: string;
  generation?: string;
}

const info = (o: ObjectResource): ObjectInfo => ({
  key: o.name,
  size: Number(o.size ?? 0),
  mtimeMs: o.updated ? Date.parse(o.updated) : 0,
  ...(o.generation ? { etag: String(o.generation) } : {}),
});

const LIST_FIELDS = 'items(name,size,updated,generation),prefixes,nextPageToken';

/**
 * A Cloud Storage bucket as an {@link ObjectStore}. `@google-cloud/storage` holds the credentials
 * (application default credentials, or a key file) and makes uploads, copies and deletes; listings,
 * metadata, reads and the chunks of resumable uploads go to the JSON API directly over a
 * keep-alive connection pool, with the client's credentials. Reads are pinned to a generation.
 */
export function gcsStore(options: GcsStoreOptions): ObjectStore & { readonly storage: Storage } {
  const { bucket } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxAttempts = options.maxAttempts ?? 3;
  const storage = new Storage({
    ...(options.endpoint === undefined ? {} : { apiEndpoint: options.endpoint }),
    ...(options.projectId === undefined ? {} : { projectId: options.projectId }),
    ...(options.keyFilename === undefined ? {} : { keyFilename: options.keyFilename }),
    timeout: timeoutMs,
    retryOptions: { maxRetries: Math.max(0, maxAttempts - 1), totalTimeout: Math.ceil((timeoutMs * maxAttempts) / 1000) },
    ...options.storage,
  });
  const api = storage.apiEndpoint.replace(/\/+$/, '');
  // A custom endpoint (an emulator) gets no credentials unless asked to, as the client does.
  const custom = (storage as unknown as { customEndpoint?: boolean }).customEndpoint === true;
  const authed = !custom || options.storage?.useAuthWithCustomEndpoint === true;
  const where = `gs://${bucket}${custom ? ` at ${api}` : ''}`;
  const b = storage.bucket(bucket);
  const objectPath = (key: string) => `/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}`;
  let closed = false;

  const call = async <T>(op: string, key: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw gcsError(e, op, key, where);
    }
  };

  /** Downloads and upload chunks: plain requests over a keep-alive pool, with the client's credentials. */
  const http = httpClient({ timeoutMs, ...(authed ? { auth: (url: string) => storage.authClient.getRequestHeaders(url) } : {}) });
  const { send, text, failure } = http;
  const json = async <T>(method: string, path: string, query: Record<string, string | undefined>, signal?: AbortSignal) => {
    const q = Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined);
    const res = await send(method, `${api}${path}${q.length ? `?${new URLSearchParams(q)}` : ''}`, {}, undefined, signal);
    if (res.statusCode === 404) {
      res.resume();
      return null;
    }
    if (res.statusCode! >= 300) throw await failure(res);
    return JSON.parse(await text(res)) as T;
  };

  /** A ranged download of one generation (pinned): the response, 2xx; empty past the end. */
  const download = async (key: string, start: number, end: number, o: ReadOptions) => {
    const query = new URLSearchParams({ alt: 'media', ...(o.etag === undefined ? {} : { generation: o.etag }) });
    const url = `${api}/download${objectPath(key)}?${query}`;
    const res = await send('GET', url, { Range: `bytes=${start}-${end - 1}`, 'Accept-Encoding': 'identity' }, undefined, o.signal);
    if (res.statusCode === 416) {
      res.resume();
      return null;
    }
    if (res.statusCode === 404 && o.etag !== undefined) {
      res.resume();
      throw new ShylockError('EIO', `read ${key}: the object changed or was deleted in ${where} while it was open; open it again`, {
        op: 'read',
        backend: 'gcs',
      });
    }
    if (res.statusCode! >= 300) throw await failure(res);
    return res;
  };

  const uploads = resumableUploads({ store: 'gcs', where, multiple: GCS_LIMITS.partMultiple!, send, failure });

  return {
    name: 'gcs',
    where,
    limits: GCS_LIMITS,
    storage,
    list: (prefix: string, o: ListOptions = {}) =>
      call('list', prefix, async (): Promise<ListPage> => {
        const out = await json<{ items?: ObjectResource[]; prefixes?: string[]; nextPageToken?: string }>(
          'GET',
          `/storage/v1/b/${encodeURIComponent(bucket)}/o`,
          {
            prefix,
            delimiter: o.delimiter ? '/' : undefined,
            pageToken: o.token,
            maxResults: o.limit === undefined ? undefined : String(o.limit),
            fields: LIST_FIELDS,
          },
          o.signal,
        );
        if (!out) throw Object.assign(new Error(`no bucket ${bucket}`), { code: 404 });
        // Cloud Storage gives at most `maxResults` items and prefixes together; an emulator may give more.
        const page: ListPage = { objects: (out.items ?? []).map(info), prefixes: out.prefixes ?? [] };
        if (out.nextPageToken) page.next = out.nextPageToken;
        return page;
      }),
    head: (key: string, o: OpOptions = {}) =>
      call('head', key, async () => {
        const out = await json<ObjectResource>('GET', objectPath(key), { fields: 'name,size,updated,generation' }, o.signal);
        return out ? info(out) : null;
      }),
    read: (key: string, start: number, end: number, o: ReadOptions = {}) =>
      call('read', key, async () => {
        if (end <= start) return new Uint8Array(0);
        const res = await download(key, start, end, o);
        if (!res) return new Uint8Array(0);
        return readRange(res, end - start, `read ${key} from ${where}`);
      }),
    stream: (key: string, start: number, end: number, o: ReadOptions = {}) =>
      call('read', key, async () => {
        const res = await download(key, start, end, o);
        return (async function* () {
          if (!res) return;
          try {
            yield* res as AsyncIterable<Uint8Array>;
          } catch (e) {
            throw gcsError(e, 'read', key, where);
          }
        })();
      }),
    put: (key: string, body: Uint8Array) =>
      call('put', key, async () => {
        const file = b.file(key);
        await file.save(Buffer.from(body.buffer, body.byteOffset, body.length), { resumable: false });
        return file.metadata.generation === undefined ? {} : { etag: String(file.metadata.generation) };
      }),
    startUpload: (key: string) =>
      call('upload', key, async () => {
        const [uri] = await b.file(key).createResumableUpload();
        return uploads.open(key, uri);
      }),
    uploadPart: (key: string, id: string, n: number, body: Uint8Array) => call('upload', key, () => uploads.part(key, id, n, body)),
    completeUpload: (key: string, id: string, parts: UploadedPart[]) =>
      call('upload', key, async () => {
        const out = (await uploads.complete(key, id, parts)) as ObjectResource | undefined;
        return out?.generation === undefined ? {} : { etag: String(out.generation) };
      }),
    abortUpload: (key: string, id: string) => call('abort', key, () => uploads.abort(key, id)),
    copy: (from: string, to: string) =>
      call('copy', from, async () => {
        // A rewrite, repeated by the client until done: large objects copy in several calls.
        await b.file(from).copy(b.file(to));
      }),
    delete: (keys: string[]) =>
      call('delete', keys[0] ?? '', async () => {
        for (let i = 0; i < keys.length; i += 16) {
          await Promise.all(keys.slice(i, i + 16).map((k) => b.file(k).delete({ ignoreNotFound: true })));
        }
      }),
    async close() {
      if (closed) return;
      closed = true;
      http.close();
    },
  };
}
