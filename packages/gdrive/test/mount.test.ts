import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { drive as makeDrive, type drive_v3 } from '@googleapis/drive';
import { GoogleAuth, type JWT } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, type Mount } from '@shylock/fuse';
import { type KilledDuringWrite, killDuringWrite, startDrive, startOrSkip } from '@shylock/test-servers';
import { DRIVE_SCOPE, gdriveBackend } from '../src/index.js';

// Through a real FUSE mount, against the Drive stand-in (no Drive emulator exists; see the
// README): the shell on one side, @googleapis/drive directly on the other.
const { server: srv, skip } = await startOrSkip(startDrive);
afterAll(() => srv?.stop());

const sh = (cmd: string, timeout = 120_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { maxBuffer: 64 << 20, timeout }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What another client made shows within a refresh (500 ms here): waits up to 3 s for `path` to list. */
const appears = async (path: string) => {
  for (let i = 0; i < 30; i++) {
    if ((await sh(`ls ${path}`)).code === 0) return;
    await sleep(100);
  }
  throw new Error(`${path} did not appear within 3 s`);
};
let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${++n}`;

describe.skipIf(!srv)(`Google Drive mounted and used from the shell${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let mnt: string;
  let spoolDir: string;
  let m: Mount;
  let api: drive_v3.Drive;
  const rootUrl = () => ({ rootUrl: `${srv!.endpoint}/` });
  /** Finds a file by name in a folder with the client, trashed or not. */
  const byName = async (name: string, parent = 'root', trashed = false) =>
    (
      await api.files.list(
        { q: `name = '${name}' and '${parent}' in parents and trashed = ${trashed}`, fields: 'files(id,name,trashed,parents)' },
        rootUrl(),
      )
    ).data.files ?? [];
  const folder = async (name: string, parent = 'root') =>
    (
      await api.files.create(
        { requestBody: { name, mimeType: 'application/vnd.google-apps.folder', parents: [parent] }, fields: 'id' },
        rootUrl(),
      )
    ).data.id!;
  const upload = async (name: string, text: string, parent: string) =>
    (await api.files.create({ requestBody: { name, parents: [parent] }, media: { body: Readable.from([text]) }, fields: 'id' }, rootUrl()))
      .data.id!;

  beforeAll(async () => {
    const auth = new GoogleAuth({ scopes: [DRIVE_SCOPE] }).fromJSON(JSON.parse(readFileSync(srv!.keyFile, 'utf8'))) as JWT;
    auth.scopes = [DRIVE_SCOPE];
    auth.useJWTAccessWithScope = true;
    api = makeDrive({ version: 'v3', auth, ...rootUrl() });
    mnt = await mkdtemp(join(tmpdir(), 'shylock-gdrive-mnt-'));
    spoolDir = await mkdtemp(join(tmpdir(), 'shylock-gdrive-spool-'));
    const backend = gdriveBackend({ credentials: srv!.keyFile, endpoint: srv!.endpoint, spoolDir, refreshMs: 500, retryBaseMs: 50 });
    m = await mount(backend, mnt, { attrTimeout: 1 });
  });
  afterAll(async () => {
    await m?.unmount();
    await rm(mnt, { recursive: true, force: true });
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('a file written with echo is read by the client; a file the client uploads is read with cat', async () => {
    const top = unique('cross');
    expect((await sh(`mkdir ${mnt}/${top} && echo hello from the mount > ${mnt}/${top}/a.txt`)).code).toBe(0);
    const [dir] = await byName(top);
    const [file] = await byName('a.txt', dir!.id!);
    const got = await api.files.get({ fileId: file!.id!, alt: 'media' }, { ...rootUrl(), responseType: 'text' });
    expect(got.data).toBe('hello from the mount\n');
    await upload('b.txt', 'from the client', dir!.id!);
    let seen = '';
    for (let i = 0; i < 40 && seen !== 'from the client'; i++) {
      seen = (await sh(`cat ${mnt}/${top}/b.txt 2>/dev/null`)).stdout;
      if (seen !== 'from the client') await sleep(100);
    }
    expect(seen).toBe('from the client');
  });

  it('256 MiB copied in and out with cp keeps its sha256', async () => {
    const top = unique('big');
    const work = await mkdtemp(join(tmpdir(), 'shylock-gdrive-big-'));
    try {
      const chunks = (await srv!.counts())['resumable chunks'] ?? 0;
      const r = await sh(
        `set -e; head -c 268435456 /dev/urandom > ${work}/in; mkdir ${mnt}/${top}; cp ${work}/in ${mnt}/${top}/blob; ` +
          `cp ${mnt}/${top}/blob ${work}/out; sha256sum < ${work}/in; sha256sum < ${work}/out; stat -c %s ${mnt}/${top}/blob`,
        300_000,
      );
      expect(r.code, r.stderr).toBe(0);
      const [a, b, size] = r.stdout.trim().split('\n');
      expect(b).toBe(a);
      expect(size).toBe(String(256 << 20));
      // Written in order, it went up as one resumable upload, in chunks.
      const [dir] = await byName(top);
      const [blob] = await byName('blob', dir!.id!);
      const meta = await api.files.get({ fileId: blob!.id!, fields: 'size' }, rootUrl());
      expect(meta.data.size).toBe(String(256 << 20));
      // 8 MiB parts: 32 chunks, and the request that completes the upload.
      expect(((await srv!.counts())['resumable chunks'] ?? 0) - chunks).toBeGreaterThanOrEqual(32);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }, 300_000);

  it('two files sharing a name in a folder both show, the newer as "stem (id).ext"', async () => {
    const top = unique('dupes');
    const dir = await folder(top);
    const first = await upload('report.txt', 'first', dir);
    await sleep(5);
    const second = await upload('report.txt', 'second', dir);
    await appears(`${mnt}/${top}/'report (${second}).txt'`);
    const ls = await sh(`ls ${mnt}/${top}`);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['report.txt', `report (${second}).txt`].sort());
    expect((await sh(`cat ${mnt}/${top}/report.txt`)).stdout).toBe('first');
    expect((await sh(`cat "${mnt}/${top}/report (${second}).txt"`)).stdout).toBe('second');
    void first;
  });

  it('a Google Doc reads as a .docx export whose size cat can trust; writing it is EROFS', async () => {
    const top = unique('docs');
    const dir = await folder(top);
    await srv!.doc('Notes', 'the notes\n', { parent: dir });
    await appears(`${mnt}/${top}/Notes.docx`);
    const r = await sh(
      `ls -l ${mnt}/${top}; stat -c %s ${mnt}/${top}/Notes.docx; cat ${mnt}/${top}/Notes.docx | wc -c; cat ${mnt}/${top}/Notes.docx`,
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const text = 'fake export to application/vnd.openxmlformats-officedocument.wordprocessingml.document\nthe notes';
    expect(lines.slice(-4)).toEqual([String(text.length + 1), String(text.length + 1), ...text.split('\n')]);
    expect(lines[1]).toMatch(/^-r--r--r-- .* Notes\.docx$/);
    expect((await sh(`echo x > ${mnt}/${top}/Notes.docx`)).stderr).toMatch(/Read-only file system/);
  });

  it("another client's changes show within a refresh: new, renamed and trashed files", async () => {
    const top = unique('fresh');
    const dir = await folder(top);
    const id = await upload('one.txt', '1', dir);
    await appears(`${mnt}/${top}/one.txt`);
    expect((await sh(`ls ${mnt}/${top}`)).stdout).toBe('one.txt\n');
    await upload('two.txt', '2', dir);
    await api.files.update({ fileId: id, requestBody: { name: 'uno.txt' }, fields: 'id' }, rootUrl());
    const t0 = performance.now();
    let seen = '';
    while (performance.now() - t0 < 3000) {
      seen = (await sh(`ls ${mnt}/${top}`)).stdout;
      if (seen === 'two.txt\nuno.txt\n') break;
      await sleep(100);
    }
    expect(seen).toBe('two.txt\nuno.txt\n');
    await api.files.update({ fileId: id, requestBody: { trashed: true }, fields: 'id' }, rootUrl());
    for (let i = 0; i < 30 && seen !== 'two.txt\n'; i++) {
      await sleep(100);
      seen = (await sh(`ls ${mnt}/${top}`)).stdout;
    }
    expect(seen).toBe('two.txt\n');
  });

  it('mv is a move (same file, no copy), folders too; rm goes to the trash; rmdir of a non-empty folder is ENOTEMPTY', async () => {
    const top = unique('moves');
    expect((await sh(`mkdir -p ${mnt}/${top}/a/sub ${mnt}/${top}/b && echo x > ${mnt}/${top}/a/sub/f`)).code).toBe(0);
    const [topDir] = await byName(top);
    const [a] = await byName('a', topDir!.id!);
    const copies = (await srv!.counts())['drive.files.copy'] ?? 0;
    expect((await sh(`mv ${mnt}/${top}/a ${mnt}/${top}/b/a2 && cat ${mnt}/${top}/b/a2/sub/f`)).stdout).toBe('x\n');
    const [b] = await byName('b', topDir!.id!);
    const [moved] = await byName('a2', b!.id!);
    expect(moved!.id).toBe(a!.id);
    expect((await srv!.counts())['drive.files.copy'] ?? 0).toBe(copies);
    expect((await sh(`rmdir ${mnt}/${top}/b`)).stderr).toMatch(/Directory not empty/);
    const [sub] = await byName('sub', moved!.id!);
    expect((await sh(`rm ${mnt}/${top}/b/a2/sub/f && ls ${mnt}/${top}/b/a2/sub`)).stdout).toBe('');
    const [trashed] = await byName('f', sub!.id!, true);
    expect(trashed?.trashed).toBe(true);
  });

  it('touch -d sets the modified time Drive keeps', async () => {
    const top = unique('times');
    expect((await sh(`mkdir ${mnt}/${top} && echo x > ${mnt}/${top}/f && touch -d '2001-02-03 04:05:06 UTC' ${mnt}/${top}/f`)).code).toBe(
      0,
    );
    const [dir] = await byName(top);
    const [f] = await byName('f', dir!.id!);
    const meta = await api.files.get({ fileId: f!.id!, fields: 'modifiedTime' }, rootUrl());
    expect(meta.data.modifiedTime).toBe('2001-02-03T04:05:06.000Z');
    // touch sets the time while it holds the file open: the kernel keeps the attributes it was
    // answered then for the mount's attribute timeout (1 s here).
    await sleep(1100);
    expect((await sh(`stat -c %Y ${mnt}/${top}/f`)).stdout.trim()).toBe(String(Date.UTC(2001, 1, 3, 4, 5, 6) / 1000));
    expect((await sh(`touch -d '2002-02-03 04:05:06 UTC' ${mnt}/${top}/f; sleep 1.1; stat -c %Y ${mnt}/${top}/f`)).stdout.trim()).toBe(
      String(Date.UTC(2002, 1, 3, 4, 5, 6) / 1000),
    );
    // cp -p sets the time on the file it holds open, before closing it.
    const r = await sh(
      `f=$(mktemp); echo kept > $f; touch -d '2003-02-03 04:05:06 UTC' $f; cp -p $f ${mnt}/${top}/copied; rm $f; sleep 1.1; stat -c %Y ${mnt}/${top}/copied`,
    );
    expect(r.stdout.trim(), r.stderr).toBe(String(Date.UTC(2003, 1, 3, 4, 5, 6) / 1000));
  });

  it('--delete-permanently deletes instead of trashing', async () => {
    const top = unique('gone');
    expect((await sh(`mkdir ${mnt}/${top} && echo x > ${mnt}/${top}/f`)).code).toBe(0);
    const [dir] = await byName(top);
    const spare = await mkdtemp(join(tmpdir(), 'shylock-gdrive-mnt-'));
    const m2 = await mount(gdriveBackend({ credentials: srv!.keyFile, endpoint: srv!.endpoint, spoolDir, deletePermanently: true }), spare);
    try {
      expect((await sh(`rm ${spare}/${top}/f && ls ${spare}/${top}`)).stdout).toBe('');
    } finally {
      await m2.unmount();
      await rm(spare, { recursive: true, force: true });
    }
    expect(await byName('f', dir!.id!, true)).toEqual([]);
    expect(await byName('f', dir!.id!, false)).toEqual([]);
  });

  it('the server killed while a file is open: close fails EIO, the spool keeps the data; back, the mount works again', async () => {
    const top = unique('faults');
    expect((await sh(`mkdir ${mnt}/${top} && echo kept > ${mnt}/${top}/kept`)).code).toBe(0);
    const before = new Set(await readdir(spoolDir));
    let seen: KilledDuringWrite;
    try {
      seen = await killDuringWrite(`${mnt}/${top}/lost`, `${mnt}/${top}/kept`, () => srv!.kill());
    } finally {
      await srv!.restart();
    }
    expect(seen.close).toBe(5);
    expect([0, 5, 110]).toContain(seen.list); // the folder's listing may be kept
    expect([5, 110]).toContain(seen.read);
    expect(seen.seconds).toBeLessThan(15);
    const kept = (await readdir(spoolDir)).filter((f) => !before.has(f));
    expect(kept.length).toBe(1);
    const spool = join(spoolDir, kept[0]!);
    expect(await readFile(spool, 'utf8')).toBe('never stored\n');
    // Back: the same mount stores it (the stand-in kept its data on disk).
    expect((await sh(`cp ${spool} ${mnt}/${top}/lost && cat ${mnt}/${top}/lost ${mnt}/${top}/kept`)).stdout).toBe('never stored\nkept\n');
    await rm(spool);
  });

  it('rate limits are retried with backoff; past the tries, EAGAIN', async () => {
    const top = unique('limits');
    expect((await sh(`mkdir ${mnt}/${top} && echo ok > ${mnt}/${top}/f`)).code).toBe(0);
    const spare = await mkdtemp(join(tmpdir(), 'shylock-gdrive-mnt-'));
    const limited = await mount(
      gdriveBackend({ credentials: srv!.keyFile, endpoint: srv!.endpoint, spoolDir, refreshMs: 0, retryBaseMs: 20, maxAttempts: 4 }),
      spare,
    );
    try {
      await srv!.fail(3, 429, 'rateLimitExceeded');
      expect(await sh(`cat ${spare}/${top}/f`)).toMatchObject({ code: 0, stdout: 'ok\n' });
      await srv!.fail(50, 403, 'userRateLimitExceeded');
      expect((await sh(`ls ${spare}/${top}-nothing`)).stderr).toMatch(/Resource temporarily unavailable/);
    } finally {
      await srv!.fail(0);
      await limited.unmount();
      await rm(spare, { recursive: true, force: true });
    }
  });

  it('an OAuth token file (authorized_user) works; a revoked refresh token: EACCES saying to sign in again', async () => {
    const backend = gdriveBackend({ credentials: srv!.tokenFile, endpoint: srv!.endpoint, spoolDir });
    const top = unique('oauth');
    await backend.mkdir!(`/${top}`);
    expect((await backend.list('/')).map((e) => e.name)).toContain(top);
    await backend.close();
    const revoked = join(spoolDir, 'revoked-token.json');
    const token = JSON.parse(readFileSync(srv!.tokenFile, 'utf8')) as Record<string, unknown>;
    await writeFile(revoked, JSON.stringify({ ...token, refresh_token: '1//revoked' }));
    const refused = gdriveBackend({ credentials: revoked, endpoint: srv!.endpoint, maxAttempts: 1 });
    await expect(refused.list('/')).rejects.toMatchObject({
      code: 'EACCES',
      message: expect.stringContaining(`the OAuth token in ${revoked} was refused (Token has been expired or revoked.): sign in again`),
    });
    await refused.close();
  });

  it('a shared drive as the root', async () => {
    const { id } = await srv!.sharedDrive('Team');
    const spare = await mkdtemp(join(tmpdir(), 'shylock-gdrive-mnt-'));
    const team = await mount(gdriveBackend({ credentials: srv!.keyFile, endpoint: srv!.endpoint, spoolDir, sharedDrive: id }), spare);
    try {
      expect((await sh(`mkdir ${spare}/plans && echo q1 > ${spare}/plans/q1.txt && cat ${spare}/plans/q1.txt && ls ${spare}`)).stdout).toBe(
        'q1\nplans\n',
      );
    } finally {
      await team.unmount();
      await rm(spare, { recursive: true, force: true });
    }
    const [plans] = await byName('plans', id);
    expect(plans?.parents).toEqual([id]);
    expect(await byName('plans')).toEqual([]); // not in My Drive
  });

  it('credentials Drive refuses: EACCES naming the file; a file that is not a key: one line saying so', async () => {
    const other = join(spoolDir, 'other-key.json');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = JSON.parse(readFileSync(srv!.keyFile, 'utf8')) as Record<string, unknown>;
    await writeFile(other, JSON.stringify({ ...key, private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }) }));
    const backend = gdriveBackend({ credentials: other, endpoint: srv!.endpoint, maxAttempts: 1 });
    await expect(backend.list('/')).rejects.toMatchObject({
      code: 'EACCES',
      message: expect.stringContaining(`refused the credentials in ${other}`),
    });
    await backend.close();
    await writeFile(other, '{"type": "nothing"}');
    expect(() => gdriveBackend({ credentials: other })).toThrow(
      `gdrive: --credentials ${other}: a service account key or an OAuth token file`,
    );
    expect(() => gdriveBackend({ credentials: '/nonexistent/key.json' })).toThrow(
      'gdrive: --credentials /nonexistent/key.json: no such file',
    );
  });
});
