import { optionsFrom, timeoutOption, parseBoolean, ShylockError, type Backend, type OptionDecl } from '@shylock/core';
import { bucketSpec, joinPrefix, OBJECT_OPTIONS, objectBackend, type ObjectBackendOptions } from '@shylock/objects';
import { s3Store, type S3StoreOptions } from './store.js';

/** Options of {@link s3Backend}. */
export interface S3BackendOptions extends Omit<S3StoreOptions, 'bucket'>, ObjectBackendOptions {
  /** The bucket, optionally with a key prefix to mount: `photos` or `photos/2026/`. */
  bucket: string;
}

/** S3's options: the factory, its environment and the `shylock s3` flags read them from here. */
export const S3_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'endpoint',
    flag: 'endpoint',
    env: 'AWS_ENDPOINT_URL_S3',
    type: 'string',
    value: '<url>',
    help: 'an S3-compatible server instead of AWS, e.g. http://127.0.0.1:9000',
  },
  {
    key: 'region',
    flag: 'region',
    env: 'AWS_REGION',
    type: 'string',
    value: '<region>',
    default: 'us-east-1',
    help: "the bucket's region",
  },
  {
    key: 'forcePathStyle',
    flag: 'force-path-style',
    type: 'boolean',
    help: 'bucket in the URL path, not the host name (the default with --endpoint)',
    parse: parseBoolean,
  },
  {
    key: 'storageClass',
    flag: 'storage-class',
    type: 'string',
    value: '<class>',
    help: 'storage class of written objects, e.g. STANDARD_IA',
  },
  timeoutOption('a request', 30_000),
  ...OBJECT_OPTIONS,
];

/**
 * An S3 bucket (AWS or any S3-compatible server) as files. `/` in keys are directories, an empty
 * directory is a `dir/` marker object; reads are ranged GETs with read-ahead, a file written in
 * order streams as a multipart upload, other writes go through a spool file; rename is a
 * server-side copy and a delete (not atomic).
 *
 * ```ts
 * const s3 = s3Backend({ bucket: 'photos/2026', endpoint: 'http://127.0.0.1:9000' });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function s3Backend(options: S3BackendOptions): Backend {
  options = { ...optionsFrom(S3_OPTIONS, options as unknown as Record<string, unknown>), ...options } as S3BackendOptions;
  const { bucket, prefix: inBucket } = bucketSpec('s3', options.bucket ?? '', 's3', /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/);
  if (options.endpoint !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(options.endpoint)) {
    throw new ShylockError('EINVAL', `s3: --endpoint "${options.endpoint}" must be a URL such as http://127.0.0.1:9000`);
  }
  const prefix = joinPrefix(inBucket, options.prefix);
  const store = s3Store({ ...options, bucket });
  return objectBackend(store, { ...options, prefix });
}
