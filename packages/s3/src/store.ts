import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3ClientConfig,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ShylockError, type OpOptions } from '@shylock/core';
import {
  readRange,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type ObjectStore,
  type ReadOptions,
  type StoreLimits,
  type UploadedPart,
} from '@shylock/objects';
import { s3Error } from './errors.js';

/** Options of {@link s3Store}. */
export interface S3StoreOptions {
  bucket: string;
  /** A custom endpoint (`http://127.0.0.1:9000`); default: AWS for the region. */
  endpoint?: string;
  /** Default `$AWS_REGION`, else `us-east-1`. */
  region?: string;
  /** Bucket in the path, not the host name (default: true with a custom endpoint). */
  forcePathStyle?: boolean;
  /** Storage class of the objects written (`STANDARD`, `STANDARD_IA`, …). */
  storageClass?: string;
  /** Milliseconds a connection or an idle response may take before ETIMEDOUT (default 30000). */
  timeoutMs?: number;
  /** Attempts per request, with the SDK's backoff (default 3). */
  maxAttempts?: number;
  /** More settings for the S3 client (credentials, a custom request handler …); they win. */
  client?: S3ClientConfig;
}

/** S3's upload sizes: parts of 5 MiB to 5 GiB, 10,000 parts, objects up to 5 TiB. */
export const S3_LIMITS: StoreLimits = Object.freeze({
  minPartSize: 5 << 20,
  maxPartSize: 5 * 2 ** 30,
  maxParts: 10_000,
  maxObjectSize: 5 * 2 ** 40,
});
/** The largest object CopyObject copies in one request; larger ones are copied in parts. */
const COPY_MAX = 5 * 2 ** 30;
const COPY_PART = 512 << 20;

/** Keys as CopySource wants them: each segment URL-encoded. */
const copySource = (bucket: string, key: string) => `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

/**
 * An S3 bucket as an {@link ObjectStore}, over `@aws-sdk/client-s3`. Credentials come from the
 * SDK's default chain (environment, shared config and profile, container and instance roles)
 * unless `client.credentials` gives them.
 */
export function s3Store(options: S3StoreOptions): ObjectStore & { readonly client: S3Client } {
  const { bucket, endpoint } = options;
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const timeoutMs = options.timeoutMs ?? 30_000;
  const agent = { keepAlive: true, maxSockets: 64 };
  const client = new S3Client({
    region,
    ...(endpoint === undefined ? {} : { endpoint }),
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    // Servers other than AWS mishandle the streaming checksums newer SDKs send by default.
    ...(endpoint === undefined ? {} : { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }),
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: Math.min(timeoutMs, 10_000),
      requestTimeout: timeoutMs,
      httpAgent: new HttpAgent(agent),
      httpsAgent: new HttpsAgent(agent),
    },
    ...options.client,
  });
  const where = `s3://${bucket}${endpoint ? ` at ${endpoint}` : ` (${region})`}`;
  const storage = options.storageClass === undefined ? {} : { StorageClass: options.storageClass as StorageClass };
  const call = async <T>(op: string, key: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw s3Error(e, op, key, where);
    }
  };
  /** A ranged GET of one version (If-Match) of the object. */
  const get = (key: string, start: number, end: number, o: ReadOptions) =>
    client.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        Range: `bytes=${start}-${end - 1}`,
        ...(o.etag === undefined ? {} : { IfMatch: o.etag }),
      }),
      o.signal ? { abortSignal: o.signal } : {},
    );
  let closed = false;

  return {
    name: 's3',
    where,
    limits: S3_LIMITS,
    client,
    list: (prefix: string, o: ListOptions = {}) =>
      call('list', prefix, async (): Promise<ListPage> => {
        const out = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ...(o.delimiter ? { Delimiter: '/' } : {}),
            ...(o.token === undefined ? {} : { ContinuationToken: o.token }),
            ...(o.limit === undefined ? {} : { MaxKeys: o.limit }),
          }),
          o.signal ? { abortSignal: o.signal } : {},
        );
        const page: ListPage = {
          objects: (out.Contents ?? []).map(
            (c): ObjectInfo => ({
              key: c.Key!,
              size: c.Size ?? 0,
              mtimeMs: c.LastModified?.getTime() ?? 0,
              ...(c.ETag ? { etag: c.ETag } : {}),
            }),
          ),
          prefixes: (out.CommonPrefixes ?? []).map((p) => p.Prefix!).filter(Boolean),
        };
        if (out.IsTruncated && out.NextContinuationToken) page.next = out.NextContinuationToken;
        return page;
      }),
    head: (key: string, o: OpOptions = {}) =>
      call('head', key, async () => {
        try {
          const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), o.signal ? { abortSignal: o.signal } : {});
          return {
            key,
            size: out.ContentLength ?? 0,
            mtimeMs: out.LastModified?.getTime() ?? 0,
            ...(out.ETag ? { etag: out.ETag } : {}),
          };
        } catch (e) {
          const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
          if (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return null;
          throw e;
        }
      }),
    read: (key: string, start: number, end: number, o: ReadOptions = {}) =>
      call('read', key, async () => {
        if (end <= start) return new Uint8Array(0);
        const out = await get(key, start, end, o);
        return readRange(out.Body as AsyncIterable<Uint8Array>, end - start, `read ${key} from ${where}`);
      }),
    stream: (key: string, start: number, end: number, o: ReadOptions = {}) =>
      call('read', key, async () => {
        const out = await get(key, start, end, o);
        const body = out.Body as AsyncIterable<Uint8Array>;
        return (async function* () {
          try {
            yield* body;
          } catch (e) {
            throw s3Error(e, 'read', key, where);
          }
        })();
      }),
    put: (key: string, body: Uint8Array) =>
      call('put', key, async () => {
        const out = await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, ...storage }),
        );
        return out.ETag ? { etag: out.ETag } : {};
      }),
    startUpload: (key: string) =>
      call('upload', key, async () => {
        const out = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...storage }));
        if (!out.UploadId) throw new ShylockError('EIO', `upload ${key}: ${where} gave no upload id`);
        return out.UploadId;
      }),
    uploadPart: (key: string, uploadId: string, partNumber: number, body: Uint8Array) =>
      call('upload', key, async () => {
        const out = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
        );
        if (!out.ETag) throw new ShylockError('EIO', `upload ${key}: ${where} gave no tag for part ${partNumber}`);
        return out.ETag;
      }),
    completeUpload: (key: string, uploadId: string, parts: UploadedPart[]) =>
      call('upload', key, async () => {
        const out = await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          }),
        );
        return out.ETag ? { etag: out.ETag } : {};
      }),
    abortUpload: (key: string, uploadId: string) =>
      call('abort', key, async () => {
        try {
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
        } catch (e) {
          if ((e as { name?: string }).name !== 'NoSuchUpload') throw e;
        }
      }),
    copy: (from: string, to: string, size: number) =>
      call('copy', from, async () => {
        const source = copySource(bucket, from);
        if (size <= COPY_MAX) {
          await client.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: source, ...storage }));
          return;
        }
        // Over 5 GiB: the copy is a multipart upload whose parts are ranges of the source.
        const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: to, ...storage }));
        const id = created.UploadId!;
        try {
          const parts: { PartNumber: number; ETag: string }[] = [];
          for (let at = 0, n = 1; at < size; at += COPY_PART, n++) {
            const out = await client.send(
              new UploadPartCopyCommand({
                Bucket: bucket,
                Key: to,
                UploadId: id,
                PartNumber: n,
                CopySource: source,
                CopySourceRange: `bytes=${at}-${Math.min(size, at + COPY_PART) - 1}`,
              }),
            );
            parts.push({ PartNumber: n, ETag: out.CopyPartResult!.ETag! });
          }
          await client.send(
            new CompleteMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId: id, MultipartUpload: { Parts: parts } }),
          );
        } catch (e) {
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId: id })).catch(() => {});
          throw e;
        }
      }),
    delete: (keys: string[]) =>
      call('delete', keys[0] ?? '', async () => {
        if (keys.length === 1) {
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keys[0] }));
          return;
        }
        for (let i = 0; i < keys.length; i += 1000) {
          const out = await client.send(
            new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
          );
          const failed = out.Errors?.[0];
          if (failed)
            throw Object.assign(new Error(`${failed.Key}: ${failed.Message ?? failed.Code}`), { name: failed.Code ?? 'DeleteFailed' });
        }
      }),
    async close() {
      if (closed) return;
      closed = true;
      client.destroy();
    },
  };
}
