/**
 * The contract an object store keeps for {@link objectBackend}: flat keys with whole-object
 * writes, ranged reads, paged listings by prefix, multipart uploads and server-side copies. S3,
 * Cloud Storage and Drive adapters implement it; everything file-like (directories, spools,
 * read-ahead, caching) is built on top, once.
 *
 * Every method rejects with a `ShylockError` (the adapter maps its SDK's errors once): ENOENT for
 * a missing key, EACCES, EAGAIN (retryable) when throttled, ETIMEDOUT, EIO with the cause.
 */
import type { OpOptions } from '@shylock/core';

/** One object as a listing or a HEAD reports it. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Last modification, milliseconds since the epoch. */
  mtimeMs: number;
  /** The version tag reads are pinned to (S3 ETag, GCS generation); absent where unknown. */
  etag?: string;
  /** Readable only (Drive's Docs, read as exports): writes answer EROFS. */
  readOnly?: boolean;
}

/** Options of {@link ObjectStore.list}. */
export interface ListOptions extends OpOptions {
  /** Groups keys by the next `/` after the prefix into `prefixes` (a directory listing). */
  delimiter?: boolean;
  /** Where the previous page ended (its `next`). */
  token?: string;
  /** At most this many keys and prefixes in the page (the store may return fewer). */
  limit?: number;
}

/** One page of a listing. */
export interface ListPage {
  objects: ObjectInfo[];
  /** With `delimiter`: the common prefixes, each ending in `/`. */
  prefixes: string[];
  /** Pass as `token` for the next page; absent on the last page. */
  next?: string;
}

/** One stored part of a multipart upload. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
}

/** Options of {@link ObjectStore.read}. */
export interface ReadOptions extends OpOptions {
  /** Only from this version: a changed object rejects EIO (S3 `If-Match`). */
  etag?: string;
}

/** The sizes a store allows its uploads. */
export interface StoreLimits {
  /** Smallest part but the last (S3: 5 MiB). */
  minPartSize: number;
  /** Largest part (S3: 5 GiB). */
  maxPartSize: number;
  /** Most parts in one upload (S3: 10,000). */
  maxParts: number;
  /** Largest object (S3: 5 TiB). */
  maxObjectSize: number;
  /** Every part but the last is a multiple of this many bytes (GCS resumable uploads: 256 KiB). */
  partMultiple?: number;
}

/** An object store, as {@link objectBackend} uses it. */
export interface ObjectStore {
  /** Short name for errors and metrics: `'s3'`. */
  readonly name: string;
  /** Where the objects live, for messages: `s3://bucket` at `http://127.0.0.1:9000`. */
  readonly where: string;
  readonly limits: StoreLimits;
  /** One page of the keys starting with `prefix`, in key order. */
  list(prefix: string, options?: ListOptions): Promise<ListPage>;
  /** The object's size, time and version, or `null` when there is no such key. */
  head(key: string, options?: OpOptions): Promise<ObjectInfo | null>;
  /** Bytes `start` to `end` (exclusive) of the object; ENOENT when missing. */
  read(key: string, start: number, end: number, options?: ReadOptions): Promise<Uint8Array>;
  /**
   * Bytes `start` to `end` (exclusive) as they arrive, in one request, for a reader going
   * through the object in order; the request waits while the caller takes nothing, and
   * `return()` ends it. Errors, thrown by `next()`, are ShylockErrors. Optional: without it,
   * readers fetch ranges with `read`.
   */
  stream?(key: string, start: number, end: number, options?: ReadOptions): Promise<AsyncIterator<Uint8Array>>;
  /**
   * Stores the whole object in one request; resolves with its new version tag where known. The
   * caller reuses `body` once this settles: a store that keeps the bytes copies them.
   */
  put(key: string, body: Uint8Array, options?: OpOptions): Promise<{ etag?: string }>;
  /** Begins a multipart upload; resolves with its id. */
  startUpload(key: string): Promise<string>;
  /**
   * Stores one part (numbered from 1); resolves with its tag. As with `put`, `body` is reused
   * after. Parts are asked for in order, several at once; a store whose uploads take bytes in
   * order only (GCS) sends them one after the other.
   */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<string>;
  /** Makes the object from its parts, in order. */
  completeUpload(key: string, uploadId: string, parts: UploadedPart[]): Promise<{ etag?: string }>;
  /** Drops an upload and its parts; resolves when there was none. */
  abortUpload(key: string, uploadId: string): Promise<void>;
  /** Copies an object inside the store (its bytes never leave it); ENOENT when `from` is missing. */
  copy(from: string, to: string, size: number): Promise<void>;
  /**
   * Moves an object, or with `directory` everything under the prefix `from` to `to` (both end in
   * `/` then), as one metadata change (Drive). Optional: without it, a rename copies and deletes.
   * Whatever is at `to` is replaced (the caller checked a directory there is empty).
   */
  move?(from: string, to: string, directory: boolean): Promise<void>;
  /**
   * Sets an object's modification time (`touch`, `cp -p`): to `mtimeMs` where the store keeps
   * times (`keepsMtime`, Drive), else to now. Resolves with what the store then reports.
   * Optional: without it, times can't be changed.
   */
  touch?(key: string, mtimeMs: number): Promise<ObjectInfo>;
  /** `touch` keeps the time asked for, not only now. */
  readonly keepsMtime?: boolean;
  /** Deletes keys; a missing key is no error. */
  delete(keys: string[]): Promise<void>;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}
