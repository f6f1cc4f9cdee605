import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { drive as makeDrive, type drive_v3 } from '@googleapis/drive';
import { ShylockError } from '@shylock/core';
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
} from '@shylock/objects';
import { GoogleAuth, JWT, type OAuth2Client } from 'google-auth-library';
import { driveError, retryable, statusOf } from './errors.js';

/** Options of {@link driveStore}. */
export interface DriveStoreOptions {
  /** The folder that is the root: its id (default: My Drive's root, `root`). */
  folder?: string;
  /** A shared drive's id: its root is the root (and `folder`, if given, is inside it). */
  sharedDrive?: string;
  /** A service account key or an OAuth token file (`authorized_user`); default: application default credentials. */
  credentials?: string;
  /** Another server than Google's (a stand-in): its root URL, `http://127.0.0.1:8080`. */
  endpoint?: string;
  /** Milliseconds a request may take before ETIMEDOUT (default 30000). */
  timeoutMs?: number;
  /** How often, at most, the changes feed is asked for what others changed, in ms (default 5000). */
  refreshMs?: number;
  /** Delete for good instead of moving to the trash. */
  deletePermanently?: boolean;
  /** Tries per request when Drive limits the rate or fails (default 5), with backoff from `retryBaseMs` (default 500). */
  maxAttempts?: number;
  retryBaseMs?: number;
}

/** Drive's uploads: resumable chunks are multiples of 256 KiB; files up to 5 TiB. */
export const DRIVE_LIMITS: StoreLimits = RESUMABLE_LIMITS;
export const DRIVE_SCOPE = 'https://www.googleapis.com/auth/drive';
const FOLDER = 'application/vnd.google-apps.folder';
/** Docs editors' files, read as exports in these formats (read-only). */
export const EXPORTS: Readonly<Record<string, { mimeType: string; extension: string }>> = Object.freeze({
  'application/vnd.google-apps.document': {
    mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    extension: '.docx',
  },
  'application/vnd.google-apps.spreadsheet': {
    mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    extension: '.xlsx',
  },
  'application/vnd.google-apps.presentation': {
    mimeType: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    extension: '.pptx',
  },
});
const FILE_FIELDS = 'id,name,mimeType,size,modifiedTime,createdTime,version,parents';

/** A file or folder as this store knows it: its Drive id and what a listing shows. */
interface Entry {
  id: string;
  /** The name in listings: unique in its folder (see `displayNames`). */
  name: string;
  mimeType: string;
  size: number;
  mtimeMs: number;
  version: string;
  folder: boolean;
  /** A Docs editors' file: read as an export. */
  exported?: { mimeType: string };
}
interface Folder {
  entries: Map<string, Entry>;
}

/**
 * Names unique in a folder: Drive lets two files share a name, a file system does not. Of files
 * sharing a name, the oldest (then the smallest id) keeps it; each other one shows as
 * `stem (id).ext`. A `/` in a Drive name shows as `∕` (U+2215); a Doc gets its export's extension.
 */
export function displayNames(files: drive_v3.Schema$File[]): Map<string, drive_v3.Schema$File> {
  const groups = new Map<string, drive_v3.Schema$File[]>();
  for (const f of files) {
    const base = (f.name ?? '').replaceAll('/', '\u2215') + (EXPORTS[f.mimeType ?? '']?.extension ?? '');
    const g = groups.get(base);
    if (g) g.push(f);
    else groups.set(base, [f]);
  }
  const out = new Map<string, drive_v3.Schema$File>();
  for (const [name, group] of groups) {
    group.sort((a, b) => (a.createdTime ?? '').localeCompare(b.createdTime ?? '') || (a.id ?? '').localeCompare(b.id ?? ''));
    group.forEach((f, i) => {
      if (i === 0) return out.set(name, f);
      const dot = name.lastIndexOf('.');
      const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
      out.set(`${stem} (${f.id})${ext}`, f);
    });
  }
  return out;
}

/** Credentials from a key or token file as Google's libraries read them; service accounts sign their own tokens. */
function authFrom(file: string | undefined, tokenUrl: string | undefined): OAuth2Client | GoogleAuth {
  if (file === undefined) return new GoogleAuth({ scopes: [DRIVE_SCOPE] });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ShylockError(
      'EINVAL',
      `gdrive: --credentials ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable' : `not a JSON key or token file (${(e as Error).message})`}`,
    );
  }
  if (json.type !== 'service_account' && json.type !== 'authorized_user') {
    throw new ShylockError(
      'EINVAL',
      `gdrive: --credentials ${file}: a service account key or an OAuth token file (type authorized_user), not "${String(json.type)}"`,
    );
  }
  const client = new GoogleAuth({ scopes: [DRIVE_SCOPE] }).fromJSON(json) as OAuth2Client;
  if (client instanceof JWT) {
    client.scopes = [DRIVE_SCOPE];
    // A self-signed JWT carrying the scope: no token exchange.
    client.useJWTAccessWithScope = true;
  } else if (tokenUrl !== undefined) {
    // A stand-in for Drive serves the OAuth token endpoint too.
    (client.endpoints as { oauth2TokenUrl: string | URL }).oauth2TokenUrl = tokenUrl;
  }
  return client;
}

/**
 * Google Drive as an {@link ObjectStore}: keys are paths below the root folder. A folder's listing
 * (every page) is kept until the changes feed says something in it changed (asked at most every
 * `refreshMs`) or this store changed it; paths resolve to ids through those listings. Metadata goes
 * through `@googleapis/drive`; downloads (ranged) and resumable upload chunks go over a keep-alive
 * pool with the same credentials. Renames are moves (a metadata update), deletes go to the trash.
 */
export function driveStore(options: DriveStoreOptions = {}): ObjectStore {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const refreshMs = options.refreshMs ?? 5000;
  const maxAttempts = options.maxAttempts ?? 5;
  const retryBaseMs = options.retryBaseMs ?? 500;
  const credentials = options.credentials ?? process.env.GOOGLE_APPLICATION_CREDENTIALS ?? 'the application default credentials';
  const root = (options.endpoint ?? 'https://www.googleapis.com').replace(/\/+$/, '');
  const auth = authFrom(options.credentials, options.endpoint === undefined ? undefined : `${root}/token`);
  const callOptions = options.endpoint === undefined ? {} : { rootUrl: `${root}/` };
  const api = makeDrive({ version: 'v3', auth, retry: false, timeout: timeoutMs, ...callOptions });
  /** The root folder's id; `root` (My Drive's alias) is asked for its real id, which the changes feed names. */
  let rootId = options.folder ?? options.sharedDrive ?? 'root';
  const where = `Google Drive${options.sharedDrive ? ` shared drive ${options.sharedDrive}` : ''}${options.folder ? ` folder ${options.folder}` : ''}${options.endpoint ? ` at ${root}` : ''}`;
  const shared = { supportsAllDrives: true };
  const folders = new Map<string, Folder>();
  /** Where each file listed lives: its folder's id. */
  const parentOf = new Map<string, string>();
  const exports = new Map<string, Buffer>();
  let pageToken: string | undefined;
  let polled = 0;
  let closed = false;

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** One request, tried again with backoff while Drive limits the rate or fails; errors mapped once. */
  const call = async <T>(op: string, key: string, work: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (e) {
        if (attempt >= maxAttempts || !retryable(e) || closed) throw driveError(e, op, `/${key}`, where, credentials);
        await sleep(retryBaseMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2));
      }
    }
  };

  /** Downloads, exports and upload chunks: plain requests over a keep-alive pool, with the credentials. */
  const http = httpClient({ timeoutMs, maxSockets: 32, auth: (url: string) => auth.getRequestHeaders(url) });
  const { send, failure } = http;
  const uploads = resumableUploads({ store: 'gdrive', where, multiple: DRIVE_LIMITS.partMultiple!, send, failure });

  /** What others changed since the last look, from the changes feed: the folders it touched are listed again. */
  const refresh = async () => {
    if (Date.now() - polled < refreshMs) return;
    polled = Date.now();
    if (pageToken === undefined) {
      const res = await call('changes', '', () =>
        api.changes.getStartPageToken({ ...shared, ...(options.sharedDrive ? { driveId: options.sharedDrive } : {}) }, callOptions),
      );
      pageToken = res.data.startPageToken ?? undefined;
      return;
    }
    let token: string | undefined = pageToken;
    while (token !== undefined) {
      const res = await call('changes', '', () =>
        api.changes.list(
          {
            pageToken: token!,
            pageSize: 1000,
            fields: 'nextPageToken,newStartPageToken,changes(fileId,removed,file(id,parents))',
            ...shared,
            includeItemsFromAllDrives: true,
            ...(options.sharedDrive ? { driveId: options.sharedDrive } : {}),
          },
          callOptions,
        ),
      );
      for (const c of res.data.changes ?? []) {
        const was = c.fileId ? parentOf.get(c.fileId) : undefined;
        if (was) folders.delete(was);
        for (const p of c.file?.parents ?? []) folders.delete(p);
        if (c.fileId) folders.delete(c.fileId);
      }
      token = res.data.nextPageToken ?? undefined;
      if (res.data.newStartPageToken) pageToken = res.data.newStartPageToken;
    }
  };

  const entryOf = (name: string, f: drive_v3.Schema$File): Entry => {
    const exported = EXPORTS[f.mimeType ?? ''];
    return {
      id: f.id!,
      name,
      mimeType: f.mimeType ?? '',
      size: Number(f.size ?? 0),
      mtimeMs: f.modifiedTime ? Date.parse(f.modifiedTime) : 0,
      version: f.version ?? '',
      folder: f.mimeType === FOLDER,
      ...(exported ? { exported: { mimeType: exported.mimeType } } : {}),
    };
  };
  /** An export's bytes, fetched once per version of the Doc. */
  const exportOf = async (e: Entry): Promise<Buffer> => {
    const k = `${e.id}@${e.version}`;
    const kept = exports.get(k);
    if (kept) return kept;
    const url = `${root}/drive/v3/files/${encodeURIComponent(e.id)}/export?mimeType=${encodeURIComponent(e.exported!.mimeType)}`;
    const data = await call('export', e.name, async () => {
      const res = await send('GET', url, {});
      if (res.statusCode! >= 300) throw await failure(res);
      const parts: Buffer[] = [];
      for await (const c of res) parts.push(c as Buffer);
      return Buffer.concat(parts);
    });
    exports.set(k, data);
    return data;
  };

  /** A folder's entries, every page, kept until something in it changes. */
  const listFolder = async (id: string, path: string): Promise<Folder> => {
    const kept = folders.get(id);
    if (kept) return kept;
    const files: drive_v3.Schema$File[] = [];
    let token: string | undefined;
    do {
      const res = await call('list', path, () =>
        api.files.list(
          {
            q: `'${id.replace(/['\\]/g, '\\$&')}' in parents and trashed = false`,
            pageSize: 1000,
            fields: `nextPageToken,files(${FILE_FIELDS})`,
            ...shared,
            includeItemsFromAllDrives: true,
            ...(token ? { pageToken: token } : {}),
            ...(options.sharedDrive ? { corpora: 'drive', driveId: options.sharedDrive } : {}),
          },
          callOptions,
        ),
      );
      files.push(...(res.data.files ?? []));
      token = res.data.nextPageToken ?? undefined;
    } while (token);
    // Only what a file system can show: folders, files with bytes, Docs that export.
    const shown = files.filter(
      (f) => f.mimeType === FOLDER || !f.mimeType?.startsWith('application/vnd.google-apps.') || EXPORTS[f.mimeType],
    );
    const entries = new Map<string, Entry>();
    for (const [name, f] of displayNames(shown)) {
      const e = entryOf(name, f);
      // A Doc's size is its export's, so that cat reads all of it.
      if (e.exported) e.size = (await exportOf(e)).length;
      entries.set(name, e);
      parentOf.set(e.id, id);
    }
    const folder = { entries };
    folders.set(id, folder);
    return folder;
  };

  const rootEntry = (): Entry => ({ id: rootId, name: '', mimeType: FOLDER, size: 0, mtimeMs: 0, version: '', folder: true });
  /** The entry at `key` (no trailing `/`; `''` is the root), or null. */
  const resolve = async (key: string): Promise<Entry | null> => {
    if (rootId === 'root') {
      const res = await call('stat', '', () => api.files.get({ fileId: 'root', fields: 'id', ...shared }, callOptions));
      rootId = res.data.id ?? rootId;
    }
    await refresh();
    let at = rootEntry();
    if (key === '') return at;
    const parts = key.split('/');
    for (let i = 0; i < parts.length; i++) {
      if (!at.folder) return null;
      const next = (await listFolder(at.id, parts.slice(0, i).join('/'))).entries.get(parts[i]!);
      if (!next) return null;
      at = next;
    }
    return at;
  };
  const split = (key: string) => {
    const k = key.replace(/\/$/, '');
    const slash = k.lastIndexOf('/');
    return { parent: slash < 0 ? '' : k.slice(0, slash), name: k.slice(slash + 1) };
  };
  /** The folder a new name goes in. */
  const parentFolder = async (op: string, key: string) => {
    const { parent, name } = split(key);
    const p = await resolve(parent);
    if (!p?.folder) throw new ShylockError('ENOENT', `${op} /${key}: /${parent} is not a folder in ${where}`);
    return { folder: p, name };
  };
  const changed = (...ids: (string | undefined)[]) => {
    for (const id of ids) if (id !== undefined) folders.delete(id);
  };
  const info = (key: string, e: Entry): ObjectInfo => ({
    key,
    size: e.size,
    mtimeMs: e.mtimeMs,
    etag: e.version,
    ...(e.exported ? { readOnly: true } : {}),
  });
  const refuseExport = (op: string, key: string, e: Entry | null) => {
    if (e?.exported) throw new ShylockError('EROFS', `${op} /${key}: a Google Doc, read here as an export; change it in Docs`);
  };
  /** Trash (or delete) a file or folder. */
  const remove = async (op: string, key: string, e: Entry) =>
    call(
      op,
      key,
      (): Promise<unknown> =>
        options.deletePermanently
          ? api.files.delete({ fileId: e.id, ...shared }, callOptions)
          : api.files.update({ fileId: e.id, requestBody: { trashed: true }, fields: 'id', ...shared }, callOptions),
    );

  return {
    name: 'gdrive',
    where,
    limits: DRIVE_LIMITS,
    keepsMtime: true,
    async list(prefix: string, o: ListOptions = {}): Promise<ListPage> {
      const dir = prefix.replace(/\/$/, '');
      const e = await resolve(dir);
      if (!e?.folder) return { objects: [], prefixes: [] };
      const folder = await listFolder(e.id, dir);
      const base = dir === '' ? '' : `${dir}/`;
      const page: ListPage = { objects: base === '' ? [] : [{ key: base, size: 0, mtimeMs: e.mtimeMs }], prefixes: [] };
      for (const [name, child] of folder.entries) {
        if (!child.folder) page.objects.push(info(base + name, child));
        else if (o.delimiter) page.prefixes.push(`${base}${name}/`);
        else page.objects.push({ key: `${base}${name}/`, size: 0, mtimeMs: child.mtimeMs });
      }
      return page;
    },
    async head(key: string) {
      const e = await resolve(key);
      return e && !e.folder ? info(key, e) : null;
    },
    async read(key: string, start: number, end: number, o: ReadOptions = {}) {
      if (end <= start) return new Uint8Array(0);
      const e = await resolve(key);
      if (!e || e.folder) throw new ShylockError('ENOENT', `read /${key}: no such file in ${where}`);
      if (e.exported) return (await exportOf(e)).subarray(start, end);
      return call('read', key, async () => {
        const url = `${root}/drive/v3/files/${encodeURIComponent(e.id)}?alt=media&supportsAllDrives=true`;
        const res = await send('GET', url, { Range: `bytes=${start}-${end - 1}`, 'Accept-Encoding': 'identity' }, undefined, o.signal);
        if (res.statusCode === 416) {
          res.resume();
          return new Uint8Array(0);
        }
        if (res.statusCode! >= 300) throw await failure(res);
        return readRange(res, end - start, `read /${key} from ${where}`);
      });
    },
    async put(key: string, body: Uint8Array) {
      if (key.endsWith('/')) {
        // A directory: a folder.
        if (await resolve(key.slice(0, -1))) return {};
        const { folder, name } = await parentFolder('mkdir', key);
        await call('mkdir', key, () =>
          api.files.create({ requestBody: { name, mimeType: FOLDER, parents: [folder.id] }, fields: 'id', ...shared }, callOptions),
        );
        changed(folder.id);
        return {};
      }
      const existing = await resolve(key);
      refuseExport('write', key, existing);
      const media = { body: Readable.from([Buffer.from(body.buffer, body.byteOffset, body.length)]) };
      if (existing) {
        const res = await call('write', key, () =>
          api.files.update({ fileId: existing.id, media, fields: 'id,version', ...shared }, callOptions),
        );
        changed(parentOf.get(existing.id));
        return res.data.version ? { etag: res.data.version } : {};
      }
      const { folder, name } = await parentFolder('write', key);
      const res = await call('write', key, () =>
        api.files.create({ requestBody: { name, parents: [folder.id] }, media, fields: 'id,version', ...shared }, callOptions),
      );
      changed(folder.id);
      return res.data.version ? { etag: res.data.version } : {};
    },
    async startUpload(key: string) {
      const existing = await resolve(key);
      refuseExport('write', key, existing);
      const target = existing
        ? {
            method: 'PATCH',
            url: `${root}/upload/drive/v3/files/${encodeURIComponent(existing.id)}?uploadType=resumable&supportsAllDrives=true`,
            meta: {},
          }
        : await parentFolder('write', key).then(({ folder, name }) => ({
            method: 'POST',
            url: `${root}/upload/drive/v3/files?uploadType=resumable&supportsAllDrives=true`,
            meta: { name, parents: [folder.id] },
          }));
      const uri = await call('upload', key, async () => {
        const body = Buffer.from(JSON.stringify(target.meta));
        const res = await send(target.method, target.url, { 'Content-Type': 'application/json; charset=UTF-8' }, body);
        if (res.statusCode! >= 300) throw await failure(res);
        res.resume();
        const location = res.headers.location;
        if (!location) throw new ShylockError('EIO', `upload /${key}: ${where} started no upload session (no Location)`);
        return location;
      });
      return uploads.open(key, uri);
    },
    uploadPart: (key: string, id: string, n: number, body: Uint8Array) => call('upload', key, () => uploads.part(key, id, n, body)),
    async completeUpload(key, id, parts) {
      const out = (await call('upload', key, () => uploads.complete(key, id, parts))) as drive_v3.Schema$File | undefined;
      const { parent } = split(key);
      const p = await resolve(parent).catch(() => null);
      changed(p?.id);
      return out?.version ? { etag: out.version } : {};
    },
    abortUpload: (key: string, id: string) => call('abort', key, () => uploads.abort(key, id)),
    async copy(from: string, to: string) {
      const src = await resolve(from);
      if (!src || src.folder) throw new ShylockError('ENOENT', `copy /${from}: no such file in ${where}`);
      refuseExport('copy', from, src);
      const target = await resolve(to);
      const { folder, name } = await parentFolder('copy', to);
      await call('copy', from, () =>
        api.files.copy({ fileId: src.id, requestBody: { name, parents: [folder.id] }, fields: 'id', ...shared }, callOptions),
      );
      if (target) await remove('copy', to, target);
      changed(folder.id);
    },
    async move(from: string, to: string) {
      const src = await resolve(from.replace(/\/$/, ''));
      if (!src) throw new ShylockError('ENOENT', `rename /${from}: no such file in ${where}`);
      const oldParent = parentOf.get(src.id);
      const target = await resolve(to.replace(/\/$/, ''));
      const { folder, name } = await parentFolder('rename', to);
      if (target && target.id !== src.id) await remove('rename', to, target);
      await call('rename', from, () =>
        api.files.update(
          {
            fileId: src.id,
            requestBody: { name },
            ...(oldParent && oldParent !== folder.id ? { addParents: folder.id, removeParents: oldParent } : {}),
            fields: 'id',
            ...shared,
          },
          callOptions,
        ),
      );
      changed(oldParent, folder.id, src.id);
    },
    async touch(key: string, mtimeMs: number) {
      const e = await resolve(key);
      if (!e || e.folder) throw new ShylockError('ENOENT', `utimes /${key}: no such file in ${where}`);
      const res = await call('utimes', key, () =>
        api.files.update(
          { fileId: e.id, requestBody: { modifiedTime: new Date(mtimeMs).toISOString() }, fields: FILE_FIELDS, ...shared },
          callOptions,
        ),
      );
      changed(parentOf.get(e.id));
      const after = entryOf(e.name, res.data);
      return info(key, { ...after, size: e.exported ? e.size : after.size });
    },
    async delete(keys: string[]) {
      for (const key of keys) {
        const e = await resolve(key.replace(/\/$/, ''));
        if (!e || e.id === rootId) continue;
        await remove('delete', key, e).catch((err: unknown) => {
          if (statusOf(err).status !== 404 && (err as ShylockError).code !== 'ENOENT') throw err;
        });
        changed(parentOf.get(e.id), e.id);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      http.close();
      folders.clear();
      exports.clear();
    },
  };
}
