import { optionsFrom, parseBoolean, parseCount, ShylockError, timeoutOption, type Backend, type OptionDecl } from '@shylock/core';
import { OBJECT_OPTIONS, objectBackend, type ObjectBackendOptions } from '@shylock/objects';
import { driveStore, type DriveStoreOptions } from './store.js';

/** Options of {@link gdriveBackend}. */
export interface GdriveBackendOptions extends DriveStoreOptions, Omit<ObjectBackendOptions, 'prefix'> {}

/** Drive's options: the factory, its environment and the `shylock gdrive` flags read them from here. */
export const GDRIVE_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'folder',
    flag: 'folder',
    type: 'string',
    value: '<id>',
    help: "the folder to mount, by id (the last part of its web address); default: My Drive's root",
  },
  {
    key: 'sharedDrive',
    flag: 'shared-drive',
    type: 'string',
    value: '<id>',
    help: 'mount a shared drive (its id), or --folder inside it',
  },
  {
    key: 'credentials',
    flag: 'credentials',
    env: 'GOOGLE_APPLICATION_CREDENTIALS',
    type: 'string',
    value: '<file>',
    help: "a service account key, or an OAuth token file (authorized_user), as Google's libraries read them",
  },
  {
    key: 'endpoint',
    flag: 'endpoint',
    type: 'string',
    value: '<url>',
    help: "another server than Google's (a stand-in for tests), e.g. http://127.0.0.1:8080",
  },
  {
    key: 'refreshMs',
    flag: 'refresh',
    type: 'string',
    value: '<ms>',
    default: '5000',
    help: "how often, at most, Drive's changes feed is asked what others changed",
    parse: (text, from) => parseCount(text, from),
  },
  {
    key: 'deletePermanently',
    flag: 'delete-permanently',
    type: 'boolean',
    help: 'rm and rmdir delete for good instead of moving to the trash',
    parse: (text, from) => parseBoolean(text, from),
  },
  timeoutOption('a request', 30_000),
  ...OBJECT_OPTIONS.filter((d) => d.key !== 'cacheTtlMs'),
];

/**
 * Google Drive as files. A folder is a directory; files are read with ranged downloads and
 * read-ahead; a file written in order streams as a resumable upload, other writes go through a
 * spool file; rename is a move (one metadata update, folders too); rm moves to the trash. Docs,
 * Sheets and Slides appear as read-only `.docx`, `.xlsx` and `.pptx` exports. Files sharing a name
 * in a folder show as `name` and `stem (id).ext`. What others change shows within `refreshMs`
 * (Drive's changes feed).
 *
 * ```ts
 * const drive = gdriveBackend({ credentials: 'service-account.json', folder: '1AbC…' });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option (a credentials file that can't be read).
 */
export function gdriveBackend(options: GdriveBackendOptions = {}): Backend {
  options = { ...optionsFrom(GDRIVE_OPTIONS, options as unknown as Record<string, unknown>), ...options } as GdriveBackendOptions;
  if (options.endpoint !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(options.endpoint)) {
    throw new ShylockError('EINVAL', `gdrive: --endpoint "${options.endpoint}" must be a URL such as http://127.0.0.1:8080`);
  }
  for (const [what, id] of [
    ['--folder', options.folder],
    ['--shared-drive', options.sharedDrive],
  ] as const) {
    if (id !== undefined && !/^[A-Za-z0-9_-]+$/.test(id))
      throw new ShylockError('EINVAL', `gdrive: ${what} "${id}" is not a Drive id (letters, digits, - and _)`);
  }
  // Listings stay in the store until the changes feed says they changed.
  return objectBackend(driveStore(options), { ...options, cacheTtlMs: 0 });
}
