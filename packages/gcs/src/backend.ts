import { optionsFrom, timeoutOption, ShylockError, type Backend, type OptionDecl } from '@shylock/core';
import { bucketSpec, joinPrefix, OBJECT_OPTIONS, objectBackend, type ObjectBackendOptions } from '@shylock/objects';
import { gcsStore, type GcsStoreOptions } from './store.js';

/** Options of {@link gcsBackend}. */
export interface GcsBackendOptions extends Omit<GcsStoreOptions, 'bucket'>, ObjectBackendOptions {
  /** The bucket, optionally with a key prefix to mount: `photos` or `photos/2026/`. */
  bucket: string;
}

/** Cloud Storage's options: the factory, its environment and the `shylock gcs` flags read them from here. */
export const GCS_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'endpoint',
    flag: 'endpoint',
    env: 'STORAGE_EMULATOR_HOST',
    type: 'string',
    value: '<url>',
    help: 'another server than Cloud Storage, such as an emulator, e.g. http://127.0.0.1:4443',
  },
  {
    key: 'projectId',
    flag: 'project',
    env: 'GOOGLE_CLOUD_PROJECT',
    type: 'string',
    value: '<id>',
    help: 'the project, where the credentials do not name it',
  },
  {
    key: 'keyFilename',
    flag: 'key-file',
    env: 'GOOGLE_APPLICATION_CREDENTIALS',
    type: 'string',
    value: '<file>',
    help: "a service account's JSON key, instead of application default credentials",
  },
  timeoutOption('a request', 30_000),
  ...OBJECT_OPTIONS,
];

/**
 * A Cloud Storage bucket as files. `/` in names are directories, an empty directory is a `dir/`
 * marker object; reads are ranged downloads of the generation opened, with read-ahead; a file
 * written in order streams as a resumable upload, other writes go through a spool file; rename
 * is a server-side copy and a delete (not atomic).
 *
 * ```ts
 * const gcs = gcsBackend({ bucket: 'photos/2026' });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function gcsBackend(options: GcsBackendOptions): Backend {
  options = { ...optionsFrom(GCS_OPTIONS, options as unknown as Record<string, unknown>), ...options } as GcsBackendOptions;
  // Bucket names: 3–63 characters (up to 222 with dots), lower case, digits, - _ and dots.
  const { bucket, prefix: inBucket } = bucketSpec('gcs', options.bucket ?? '', 'gs', /^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/);
  // STORAGE_EMULATOR_HOST is often host:port alone.
  if (options.endpoint !== undefined && /^[^/:\s]+:\d+$/.test(options.endpoint)) options.endpoint = `http://${options.endpoint}`;
  if (options.endpoint !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(options.endpoint)) {
    throw new ShylockError('EINVAL', `gcs: --endpoint "${options.endpoint}" must be a URL such as http://127.0.0.1:4443`);
  }
  const prefix = joinPrefix(inBucket, options.prefix);
  const store = gcsStore({ ...options, bucket });
  return objectBackend(store, { ...options, prefix });
}
