// A Google Drive v3 stand-in, run as a process of its own by startDrive(): no Drive emulator
// exists. It serves the REST paths a Drive client uses and checks each request against the
// Drive v3 discovery document (Google's own description of the API): an unknown path, query
// parameter, field in a `fields` mask or in a request body fails with 400, as a mistake in a
// client must fail a test. Data is kept on disk. Not Google: its limits, timing and Docs
// exports are its own (an export is the document's text under a one-line header).
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';

interface Config {
  port: number;
  dir: string;
  discovery: string;
  /** PEM: the service account's public key; tokens must be JWTs it signed. */
  publicKey: string;
  /** The OAuth client and refresh token that /token takes (an `authorized_user` file's). */
  oauth: { clientId: string; clientSecret: string; refreshToken: string };
}
const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Config;

// ---- the discovery document -------------------------------------------------------------
interface Param {
  type: string;
  location: string;
  enum?: string[];
  required?: boolean;
  minimum?: string;
  maximum?: string;
}
interface Method {
  id: string;
  path: string;
  httpMethod: string;
  parameters?: Record<string, Param>;
  request?: { $ref: string };
  response?: { $ref: string };
  supportsMediaUpload?: boolean;
  mediaUpload?: { protocols: { simple?: { path: string }; resumable?: { path: string } } };
}
interface Schema {
  type?: string;
  $ref?: string;
  properties?: Record<string, Schema & { description?: string }>;
  items?: Schema;
  additionalProperties?: Schema;
  description?: string;
}
const doc = JSON.parse(readFileSync(config.discovery, 'utf8')) as {
  servicePath: string;
  parameters: Record<string, Param>;
  resources: Record<string, { methods?: Record<string, Method> }>;
  schemas: Record<string, Schema>;
};
interface Route {
  method: Method;
  re: RegExp;
  names: string[];
  upload: boolean;
}
const routes: Route[] = [];
const route = (method: Method, path: string, upload: boolean) => {
  const names: string[] = [];
  const re = new RegExp(
    `^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, n: string) => (names.push(n), '([^/]+)'))}$`,
  );
  routes.push({ method, re, names, upload });
};
for (const resource of ['files', 'changes', 'about']) {
  for (const method of Object.values(doc.resources[resource]?.methods ?? {})) {
    route(method, `/${doc.servicePath}${method.path}`, false);
    const media = method.mediaUpload?.protocols;
    if (media?.simple) route(method, media.simple.path, true);
    if (media?.resumable) route(method, media.resumable.path, true);
  }
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason = 'invalid',
  ) {
    super(message);
  }
}

/** Query parameters: each declared by the method or globally, of its declared type. */
function checkQuery(method: Method, query: URLSearchParams): void {
  for (const [name, value] of query) {
    const p = method.parameters?.[name] ?? doc.parameters[name];
    if (!p || p.location === 'path') throw new ApiError(400, `Unknown parameter "${name}" for ${method.id} (Drive v3 discovery document)`);
    if (p.type === 'boolean' && value !== 'true' && value !== 'false') throw new ApiError(400, `Invalid boolean "${value}" for ${name}`);
    if (p.type === 'integer') {
      if (!/^-?\d+$/.test(value)) throw new ApiError(400, `Invalid integer "${value}" for ${name}`);
      if (p.minimum !== undefined && Number(value) < Number(p.minimum)) throw new ApiError(400, `${name} below ${p.minimum}`);
      if (p.maximum !== undefined && Number(value) > Number(p.maximum)) throw new ApiError(400, `${name} above ${p.maximum}`);
    }
    if (p.enum && !p.enum.includes(value)) throw new ApiError(400, `Invalid value "${value}" for ${name}: one of ${p.enum.join(', ')}`);
  }
  for (const [name, p] of Object.entries(method.parameters ?? {})) {
    if (p.required && p.location === 'query' && !query.has(name)) throw new ApiError(400, `Required parameter: ${name}`, 'required');
  }
}

const resolveRef = (s: Schema): Schema => (s.$ref ? doc.schemas[s.$ref]! : s);

/** Parses a `fields` mask (`files(id,name),nextPageToken`) into a tree. */
interface Mask {
  [name: string]: Mask | true;
}
function parseMask(text: string): Mask {
  let i = 0;
  const group = (): Mask => {
    const out: Mask = {};
    while (i < text.length && text[i] !== ')') {
      let name = '';
      while (i < text.length && !',()'.includes(text[i]!)) name += text[i++];
      name = name.trim();
      if (name === '') throw new ApiError(400, `Invalid field selection ${text}`);
      // a/b is b inside a
      const path = name.split('/');
      let at = out;
      for (const seg of path.slice(0, -1)) at = (at[seg] === true || at[seg] === undefined ? (at[seg] = {}) : at[seg]) as Mask;
      const last = path.at(-1)!;
      if (text[i] === '(') {
        i++;
        at[last] = group();
        if (text[i] !== ')') throw new ApiError(400, `Invalid field selection ${text}`);
        i++;
      } else at[last] = true;
      if (text[i] === ',') i++;
    }
    return out;
  };
  const mask = group();
  if (i !== text.length) throw new ApiError(400, `Invalid field selection ${text}`);
  return mask;
}
/** Every name in the mask is a property of the schema. */
function checkMask(mask: Mask, schema: Schema, where: string): void {
  const s = resolveRef(schema);
  for (const [name, sub] of Object.entries(mask)) {
    if (name === '*') continue;
    const prop = s.properties?.[name] ?? (s.additionalProperties ? s.additionalProperties : undefined);
    if (!prop) throw new ApiError(400, `Invalid field selection ${name}: not a field of ${where} (Drive v3 discovery document)`);
    if (sub !== true) {
      const inner = resolveRef(prop).type === 'array' ? resolveRef(prop).items! : prop;
      checkMask(sub, inner, `${where}.${name}`);
    }
  }
}
/** What a response holds of `value` under the mask. */
function applyMask(value: unknown, mask: Mask | true): unknown {
  if (mask === true || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => applyMask(v, mask));
  if ('*' in mask) return value;
  const out: Record<string, unknown> = {};
  for (const [k, m] of Object.entries(mask)) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = applyMask(v, m);
  }
  return out;
}
/** A request body's fields: each a writable property of the schema, of its type. */
function checkBody(body: Record<string, unknown>, schemaName: string): void {
  const schema = doc.schemas[schemaName]!;
  for (const [name, value] of Object.entries(body)) {
    const prop = schema.properties?.[name];
    if (!prop) throw new ApiError(400, `Unknown field "${name}" in the ${schemaName} body (Drive v3 discovery document)`);
    if (name !== 'id' && /^Output only\./.test(prop.description ?? '')) {
      throw new ApiError(403, `The resource body includes fields which are not directly writable: ${name}`, 'fieldNotWritable');
    }
    const type = resolveRef(prop).type;
    const ok =
      value === null ||
      (type === 'string' && typeof value === 'string') ||
      (type === 'boolean' && typeof value === 'boolean') ||
      (type === 'array' && Array.isArray(value)) ||
      (type === 'object' && typeof value === 'object') ||
      (type === 'integer' && typeof value === 'number');
    if (!ok) throw new ApiError(400, `Invalid value for ${schemaName}.${name}: expected ${type}`);
  }
}

// ---- the data ---------------------------------------------------------------------------
const FOLDER = 'application/vnd.google-apps.folder';
interface FileRec {
  id: string;
  name: string;
  mimeType: string;
  parents: string[];
  trashed: boolean;
  createdTime: string;
  modifiedTime: string;
  version: number;
  size?: number;
  md5Checksum?: string;
  description?: string;
  appProperties?: Record<string, string>;
}
interface Change {
  seq: number;
  fileId: string;
  removed: boolean;
  time: string;
}
const blobs = join(config.dir, 'blobs');
const uploads = join(config.dir, 'uploads');
mkdirSync(blobs, { recursive: true });
mkdirSync(uploads, { recursive: true });
const stateFile = join(config.dir, 'drive.json');
const state: { files: Record<string, FileRec>; changes: Change[]; rootId: string } = existsSync(stateFile)
  ? JSON.parse(readFileSync(stateFile, 'utf8'))
  : { files: {}, changes: [], rootId: '' };
const now = () => new Date().toISOString();
const newId = () => randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 28);
/** A folder of no parent: My Drive's root, or a shared drive's (its id is the drive's). */
const topFolder = (name: string): string => {
  const id = `0A${newId().slice(0, 17)}`;
  state.files[id] = { id, name, mimeType: FOLDER, parents: [], trashed: false, createdTime: now(), modifiedTime: now(), version: 1 };
  return id;
};
if (!state.rootId) state.rootId = topFolder('My Drive');
const save = () => {
  writeFileSync(`${stateFile}.tmp`, JSON.stringify(state));
  renameSync(`${stateFile}.tmp`, stateFile);
};
save();
const changed = (fileId: string, removed = false) => {
  state.changes.push({ seq: (state.changes.at(-1)?.seq ?? 0) + 1, fileId, removed, time: now() });
  save();
};
const fileOf = (id: string): FileRec => {
  const f = state.files[id === 'root' ? state.rootId : id];
  if (!f) throw new ApiError(404, `File not found: ${id}.`, 'notFound');
  return f;
};
const isGoogle = (f: FileRec) => f.mimeType.startsWith('application/vnd.google-apps.');
const EXPORTS: Record<string, string[]> = {
  'application/vnd.google-apps.document': [
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'application/pdf',
    'text/plain',
  ],
  'application/vnd.google-apps.spreadsheet': [
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'text/csv',
    'application/pdf',
  ],
  'application/vnd.google-apps.presentation': [
    'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    'application/pdf',
  ],
};
const resource = (f: FileRec) => ({
  kind: 'drive#file',
  id: f.id,
  name: f.name,
  mimeType: f.mimeType,
  parents: f.parents,
  trashed: f.trashed,
  createdTime: f.createdTime,
  modifiedTime: f.modifiedTime,
  version: String(f.version),
  ...(f.size === undefined || isGoogle(f) ? {} : { size: String(f.size), md5Checksum: f.md5Checksum }),
  ...(f.description === undefined ? {} : { description: f.description }),
  ...(f.appProperties === undefined ? {} : { appProperties: f.appProperties }),
  ...(isGoogle(f) && EXPORTS[f.mimeType]
    ? { exportLinks: Object.fromEntries(EXPORTS[f.mimeType]!.map((m) => [m, `export?mimeType=${m}`])) }
    : {}),
});
const setContent = (f: FileRec, file: string) => {
  const data = readFileSync(file);
  renameSync(file, join(blobs, f.id));
  f.size = data.length;
  f.md5Checksum = createHash('md5').update(data).digest('hex');
};
const writeBlob = (f: FileRec, data: Buffer) => {
  const tmp = join(uploads, `${f.id}.${newId()}`);
  writeFileSync(tmp, data);
  setContent(f, tmp);
};
const DEFAULT_FILE_FIELDS: Mask = { kind: true, id: true, name: true, mimeType: true };

/** Drive's query language, the part clients use to list a folder and look a name up. */
function matcher(q: string): (f: FileRec) => boolean {
  const clauses: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < q.length; i++) {
    const c = q[i]!;
    if (c === '\\' && quoted) {
      cur += c + (q[++i] ?? '');
      continue;
    }
    if (c === "'") quoted = !quoted;
    if (!quoted && q.slice(i, i + 5).toLowerCase() === ' and ') {
      clauses.push(cur.trim());
      cur = '';
      i += 4;
      continue;
    }
    cur += c;
  }
  if (quoted) throw new ApiError(400, `Invalid Value: unbalanced quotes in q`);
  if (cur.trim()) clauses.push(cur.trim());
  const str = (s: string) => s.slice(1, -1).replace(/\\(.)/g, '$1');
  const tests = clauses.map((c): ((f: FileRec) => boolean) => {
    let m = /^('(?:[^'\\]|\\.)*')\s+in\s+parents$/.exec(c);
    if (m) {
      const id = str(m[1]!) === 'root' ? state.rootId : str(m[1]!);
      return (f) => f.parents.includes(id);
    }
    m = /^trashed\s*(=|!=)\s*(true|false)$/.exec(c);
    if (m) {
      const want = (m[2] === 'true') === (m[1] === '=');
      return (f) => f.trashed === want;
    }
    m = /^(name|mimeType)\s*(=|!=|contains)\s*('(?:[^'\\]|\\.)*')$/.exec(c);
    if (m) {
      const [, field, op, value] = m;
      const v = str(value!);
      return (f) => {
        const x = field === 'name' ? f.name : f.mimeType;
        return op === '=' ? x === v : op === '!=' ? x !== v : x.includes(v);
      };
    }
    throw new ApiError(400, `Invalid Value: the fake does not know the query clause "${c}"`);
  });
  return (f) => f.id !== state.rootId && tests.every((t) => t(f));
}

// ---- requests ---------------------------------------------------------------------------
/** Injected failures: the next `count` API requests answer `status` with `reason`. */
let failures: { count: number; status: number; reason: string } | undefined;
const counts: Record<string, number> = {};
const sessions = new Map<
  string,
  { fileId?: string; meta: Record<string, unknown>; query: URLSearchParams; received: number; file: string }
>();

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
const send = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', ...headers });
  res.end(text);
};
const errorBody = (e: ApiError) => ({
  error: {
    code: e.code,
    message: e.message,
    errors: [{ domain: e.code === 403 || e.code === 429 ? 'usageLimits' : 'global', reason: e.reason, message: e.message }],
  },
});

/** Access tokens /token handed out, with when they expire. */
const accessTokens = new Map<string, number>();

/** The bearer token: one /token handed out, or a JWT signed with the service account's key; not expired. */
function checkAuth(req: IncomingMessage): void {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) throw new ApiError(401, 'Request is missing required authentication credential.', 'required');
  const minted = accessTokens.get(m[1]!);
  if (minted !== undefined) {
    if (minted < Date.now())
      throw new ApiError(401, 'Request had invalid authentication credentials. The access token expired.', 'authError');
    return;
  }
  const [h, p, s] = m[1]!.split('.');
  const bad = () => new ApiError(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token.', 'authError');
  if (!h || !p || !s) throw bad();
  const ok = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey(config.publicKey), Buffer.from(s, 'base64url'));
  if (!ok) throw bad();
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { exp?: number; scope?: string };
  if (!claims.exp || claims.exp * 1000 < Date.now()) throw bad();
  if (!String(claims.scope ?? '').includes('https://www.googleapis.com/auth/drive'))
    throw new ApiError(403, 'Insufficient Permission', 'insufficientPermissions');
}

/** multipart/related: the metadata part and the media part. */
function multipart(req: IncomingMessage, body: Buffer): { meta: Record<string, unknown>; media: Buffer } {
  const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '')?.[1];
  if (!boundary) throw new ApiError(400, 'multipart upload without a boundary');
  const text = body.toString('latin1');
  const parts = text.split(`--${boundary}`).slice(1, -1);
  if (parts.length !== 2) throw new ApiError(400, `multipart upload with ${parts.length} parts, not 2`);
  const split = (part: string) => {
    const at = part.indexOf('\r\n\r\n');
    return Buffer.from(part.slice(at + 4, part.endsWith('\r\n') ? -2 : undefined), 'latin1');
  };
  return { meta: JSON.parse(split(parts[0]!).toString('utf8')) as Record<string, unknown>, media: split(parts[1]!) };
}

function makeFile(meta: Record<string, unknown>, query: URLSearchParams): FileRec {
  checkBody(meta, 'File');
  const parents = (meta.parents as string[] | undefined) ?? [state.rootId];
  for (const p of parents) if (fileOf(p).mimeType !== FOLDER) throw new ApiError(400, `The parent ${p} is not a folder`);
  void query;
  const t = now();
  const f: FileRec = {
    id: typeof meta.id === 'string' ? meta.id : newId(),
    name: typeof meta.name === 'string' ? meta.name : 'Untitled',
    mimeType: typeof meta.mimeType === 'string' ? meta.mimeType : 'application/octet-stream',
    parents: parents.map((p) => fileOf(p).id),
    trashed: false,
    createdTime: t,
    modifiedTime: t,
    version: 1,
  };
  if (state.files[f.id]) throw new ApiError(409, `A file with the id ${f.id} exists`, 'duplicate');
  return f;
}
function updateMeta(f: FileRec, meta: Record<string, unknown>, query: URLSearchParams): void {
  checkBody(meta, 'File');
  if (typeof meta.name === 'string') f.name = meta.name;
  if (typeof meta.trashed === 'boolean') f.trashed = meta.trashed;
  if (typeof meta.description === 'string') f.description = meta.description;
  if (meta.appProperties && typeof meta.appProperties === 'object') f.appProperties = meta.appProperties as Record<string, string>;
  if (meta.parents !== undefined)
    throw new ApiError(
      403,
      'The parents field is not directly writable in update requests. Use the addParents and removeParents parameters instead.',
      'fieldNotWritable',
    );
  const add = query.get('addParents')?.split(',').filter(Boolean) ?? [];
  const remove = query.get('removeParents')?.split(',').filter(Boolean) ?? [];
  for (const p of add) if (fileOf(p).mimeType !== FOLDER) throw new ApiError(400, `The parent ${p} is not a folder`);
  const removeIds = remove.map((p) => fileOf(p).id);
  f.parents = [...f.parents.filter((p) => !removeIds.includes(p)), ...add.map((p) => fileOf(p).id)];
  f.modifiedTime = typeof meta.modifiedTime === 'string' ? new Date(meta.modifiedTime).toISOString() : now();
  f.version++;
}
const deleteTree = (f: FileRec) => {
  for (const child of Object.values(state.files)) if (child.parents.includes(f.id)) deleteTree(child);
  delete state.files[f.id];
  rmSync(join(blobs, f.id), { force: true });
  changed(f.id, true);
};

async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname;
  let found: { r: Route; params: Record<string, string> } | undefined;
  for (const r of routes) {
    if (r.method.httpMethod !== req.method) continue;
    const m = r.re.exec(path);
    if (m) {
      found = { r, params: Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)])) };
      break;
    }
  }
  // A resumable session: PUT to the URI the upload was started with.
  if (!found && req.method === 'PUT' && url.searchParams.has('upload_id')) return session(req, res, url);
  if (!found) throw new ApiError(404, `No ${req.method} ${path} in the Drive v3 discovery document`, 'notFound');
  const { r, params } = found;
  const query = url.searchParams;
  checkQuery(r.method, query);
  checkAuth(req);
  counts[r.method.id] = (counts[r.method.id] ?? 0) + 1;
  if (failures && failures.count > 0) {
    failures.count--;
    throw new ApiError(
      failures.status,
      failures.reason === 'userRateLimitExceeded' ? 'User rate limit exceeded.' : 'Rate Limit Exceeded',
      failures.reason,
    );
  }
  const uploadType = query.get('uploadType');
  if (r.upload && !uploadType) throw new ApiError(400, 'Upload requests need uploadType');
  if (!r.upload && uploadType) throw new ApiError(400, `uploadType=${uploadType} on a path that is not an upload path`);
  const mask = query.has('fields') ? parseMask(query.get('fields')!) : undefined;
  if (mask && r.method.response) checkMask(mask, { $ref: r.method.response.$ref }, r.method.response.$ref);
  const answer = (status: number, value: unknown, fallback: Mask = DEFAULT_FILE_FIELDS) =>
    send(res, status, mask ? applyMask(value, mask) : applyMask(value, fallback));
  const body = await readBody(req);
  const json = () => {
    if (body.length === 0) return {};
    try {
      return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new ApiError(400, 'Invalid JSON payload received.', 'parseError');
    }
  };

  /** A create's or update's metadata and media, as its uploadType sends them (none: metadata only). */
  const upload = (): { meta: Record<string, unknown>; media: Buffer | undefined } =>
    uploadType === 'multipart'
      ? multipart(req, body)
      : uploadType === 'media'
        ? { meta: {}, media: body }
        : { meta: json(), media: undefined };

  switch (r.method.id) {
    case 'drive.about.get':
      if (!mask) throw new ApiError(400, "The 'fields' parameter is required for this method.", 'required');
      return answer(200, {
        kind: 'drive#about',
        user: { kind: 'drive#user', displayName: 'shylock test', emailAddress: 'test@shylock.invalid' },
        storageQuota: { limit: String(2 ** 40), usage: '0' },
      });
    case 'drive.changes.getStartPageToken':
      return answer(200, { kind: 'drive#startPageToken', startPageToken: String((state.changes.at(-1)?.seq ?? 0) + 1) }, { '*': true });
    case 'drive.changes.list': {
      const from = Number(query.get('pageToken'));
      if (!Number.isInteger(from) || from < 1) throw new ApiError(400, `Invalid pageToken ${query.get('pageToken')}`);
      const size = Number(query.get('pageSize') ?? 100);
      const after = state.changes.filter((c) => c.seq >= from);
      const page = after.slice(0, size);
      const out: Record<string, unknown> = {
        kind: 'drive#changeList',
        changes: page.map((c) => {
          const f = state.files[c.fileId];
          return {
            kind: 'drive#change',
            changeType: 'file',
            time: c.time,
            removed: c.removed || !f,
            fileId: c.fileId,
            ...(f ? { file: resource(f) } : {}),
          };
        }),
      };
      if (after.length > size) out.nextPageToken = String(page.at(-1)!.seq + 1);
      else out.newStartPageToken = String((state.changes.at(-1)?.seq ?? 0) + 1);
      return answer(200, out, { '*': true });
    }
    case 'drive.files.list': {
      const test = matcher(query.get('q') ?? 'trashed = false');
      const size = Math.min(Number(query.get('pageSize') ?? 100), 1000);
      const start = Number(query.get('pageToken') ?? 0);
      const all = Object.values(state.files)
        .filter(test)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
      const page = all.slice(start, start + size);
      const out: Record<string, unknown> = { kind: 'drive#fileList', incompleteSearch: false, files: page.map(resource) };
      if (start + size < all.length) out.nextPageToken = String(start + size);
      return answer(200, out, { kind: true, incompleteSearch: true, nextPageToken: true, files: DEFAULT_FILE_FIELDS });
    }
    case 'drive.files.get': {
      const f = fileOf(params.fileId!);
      if (query.get('alt') !== 'media') return answer(200, resource(f));
      if (f.mimeType === FOLDER || isGoogle(f)) {
        throw new ApiError(
          403,
          'Only files with binary content can be downloaded. Use Export with Docs Editors files.',
          'fileNotDownloadable',
        );
      }
      return media(req, res, readFileSync(join(blobs, f.id)));
    }
    case 'drive.files.export': {
      const f = fileOf(params.fileId!);
      const type = query.get('mimeType')!;
      if (!EXPORTS[f.mimeType]?.includes(type))
        throw new ApiError(400, `Export of ${f.mimeType} to ${type} is not supported.`, 'badRequest');
      const text = existsSync(join(blobs, f.id)) ? readFileSync(join(blobs, f.id)) : Buffer.alloc(0);
      const data = type === 'text/plain' || type === 'text/csv' ? text : Buffer.concat([Buffer.from(`fake export to ${type}\n`), text]);
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(data.length) });
      res.end(data);
      return;
    }
    case 'drive.files.create': {
      if (uploadType === 'resumable') return startSession(res, url, json(), undefined);
      const { meta, media: data } = upload();
      const f = makeFile(meta, query);
      if (data !== undefined || f.mimeType !== FOLDER) writeBlob(f, data ?? Buffer.alloc(0));
      state.files[f.id] = f;
      changed(f.id);
      return answer(200, resource(f));
    }
    case 'drive.files.update': {
      const f = fileOf(params.fileId!);
      if (uploadType === 'resumable') return startSession(res, url, json(), f.id);
      const { meta, media: data } = upload();
      updateMeta(f, meta, query);
      if (data !== undefined) writeBlob(f, data);
      changed(f.id);
      return answer(200, resource(f));
    }
    case 'drive.files.copy': {
      const src = fileOf(params.fileId!);
      if (src.mimeType === FOLDER) throw new ApiError(403, 'Folders cannot be copied.', 'cannotCopyFile');
      const meta = json();
      const f = makeFile({ name: src.name, mimeType: src.mimeType, parents: src.parents, ...meta }, query);
      if (existsSync(join(blobs, src.id))) writeBlob(f, readFileSync(join(blobs, src.id)));
      state.files[f.id] = f;
      changed(f.id);
      return answer(200, resource(f));
    }
    case 'drive.files.delete': {
      const f = fileOf(params.fileId!);
      if (f.id === state.rootId) throw new ApiError(403, 'The root folder cannot be deleted.', 'cannotDeleteRoot');
      deleteTree(f);
      return send(res, 204);
    }
    default:
      throw new ApiError(501, `The fake does not serve ${r.method.id}`, 'notImplemented');
  }
}

/** A download, whole or the Range asked for. */
function media(req: IncomingMessage, res: ServerResponse, data: Buffer): void {
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (!range) {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) });
    res.end(data);
    return;
  }
  const start = Number(range[1]);
  const end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
  if (start >= data.length) {
    res.writeHead(416, { 'Content-Range': `bytes */${data.length}` });
    res.end();
    return;
  }
  res.writeHead(206, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(end - start + 1),
    'Content-Range': `bytes ${start}-${end}/${data.length}`,
  });
  res.end(data.subarray(start, end + 1));
}

function startSession(res: ServerResponse, url: URL, meta: Record<string, unknown>, fileId: string | undefined): void {
  checkBody(meta, 'File');
  if (fileId === undefined) makeFile(meta, url.searchParams); // fails now for a bad parent
  const id = newId();
  const file = join(uploads, `session-${id}`);
  writeFileSync(file, '');
  sessions.set(id, { ...(fileId ? { fileId } : {}), meta, query: new URLSearchParams(url.searchParams), received: 0, file });
  const location = `http://127.0.0.1:${config.port}${url.pathname}?uploadType=resumable&upload_id=${id}`;
  send(res, 200, undefined, { Location: location });
}

async function session(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const s = sessions.get(url.searchParams.get('upload_id')!);
  if (!s) throw new ApiError(404, 'No such upload session', 'notFound');
  counts['resumable chunks'] = (counts['resumable chunks'] ?? 0) + 1;
  const body = await readBody(req);
  const m = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(req.headers['content-range'] ?? '');
  if (!m) throw new ApiError(400, `Bad Content-Range: ${req.headers['content-range']}`);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (m[1] !== undefined) {
    const start = Number(m[1]);
    const end = Number(m[2]) + 1;
    if (end - start !== body.length) throw new ApiError(400, `Content-Range says ${end - start} bytes, the body has ${body.length}`);
    if (start > s.received) throw new ApiError(400, `The chunk starts at ${start}; the session holds ${s.received} bytes`);
    if (total === undefined && (end - start) % (256 * 1024) !== 0)
      throw new ApiError(400, 'A chunk but the last must be a multiple of 256 KiB');
    appendFileSync(s.file, body.subarray(s.received - start));
    s.received = Math.max(s.received, end);
  }
  if (total !== undefined && s.received === total) {
    sessions.delete(url.searchParams.get('upload_id')!);
    let f: FileRec;
    if (s.fileId) {
      f = fileOf(s.fileId);
      updateMeta(f, s.meta, s.query);
    } else {
      f = makeFile(s.meta, s.query);
      state.files[f.id] = f;
    }
    setContent(f, s.file);
    changed(f.id);
    return send(res, 200, resource(f));
  }
  send(res, 308, undefined, s.received > 0 ? { Range: `bytes=0-${s.received - 1}` } : {});
}

/** OAuth's token endpoint, for a refresh token (an `authorized_user` file): an access token for an hour. */
async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  const o = config.oauth;
  if (form.get('grant_type') !== 'refresh_token' || form.get('client_id') !== o.clientId || form.get('client_secret') !== o.clientSecret) {
    return send(res, 401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
  }
  if (form.get('refresh_token') !== o.refreshToken) {
    return send(res, 400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
  }
  const access = randomBytes(24).toString('base64url');
  accessTokens.set(access, Date.now() + 3600_000);
  send(res, 200, { access_token: access, expires_in: 3599, token_type: 'Bearer', scope: 'https://www.googleapis.com/auth/drive' });
}

/** The test's controls: injected failures, Docs made directly, request counts. */
async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as Record<string, unknown>;
  switch (url.pathname) {
    case '/__fake/fail':
      failures = { count: Number(body.count ?? 1), status: Number(body.status ?? 429), reason: String(body.reason ?? 'rateLimitExceeded') };
      return send(res, 200, failures);
    case '/__fake/doc': {
      const kind = String(body.kind ?? 'document');
      const f = makeFile(
        { name: body.name, mimeType: `application/vnd.google-apps.${kind}`, parents: [String(body.parent ?? 'root')] },
        new URLSearchParams(),
      );
      writeBlob(f, Buffer.from(String(body.text ?? '')));
      delete f.size;
      state.files[f.id] = f;
      changed(f.id);
      return send(res, 200, resource(f));
    }
    case '/__fake/shared-drive': {
      const id = topFolder(String(body.name ?? 'Shared'));
      changed(id);
      return send(res, 200, { id });
    }
    case '/__fake/counts':
      return send(res, 200, counts);
    case '/__fake/root':
      return send(res, 200, { id: state.rootId });
    default:
      throw new ApiError(404, `no control ${url.pathname}`);
  }
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', `http://127.0.0.1:${config.port}`);
  const work = url.pathname.startsWith('/__fake/')
    ? control(req, res, url)
    : url.pathname === '/token' && req.method === 'POST'
      ? token(req, res)
      : api(req, res, url);
  work.catch((e: unknown) => {
    const err = e instanceof ApiError ? e : new ApiError(500, (e as Error).message, 'backendError');
    if (!res.headersSent) send(res, err.code, errorBody(err));
    else res.destroy();
  });
});
server.listen(config.port, '127.0.0.1', () => {
  writeFileSync(join(config.dir, 'ready'), String(process.pid));
});
