// Google Drive: no emulator exists, so a stand-in of our own (drive-fake.ts) that checks every
// request against the Drive v3 discovery document Google ships with its Python client.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installed, step } from './cache.js';
import { ensureDebian, freePort, serverHandle, type TestServer, waitFor } from './process.js';

/** The release of google-api-python-client whose Drive v3 discovery document the fake checks requests against. */
export const DRIVE_DISCOVERY_VERSION = '2.202.0';

/** A Drive stand-in. */
export interface DriveServer extends TestServer {
  /** A service account key file the stand-in accepts (its tokens are JWTs it signs itself). */
  readonly keyFile: string;
  /** An OAuth token file (`authorized_user`) whose refresh token the stand-in's `/token` takes. */
  readonly tokenFile: string;
  /** The id of "My Drive"'s root folder. */
  readonly rootId: string;
  /** The next `count` API requests answer `status` with `reason` (429 rateLimitExceeded, 403 userRateLimitExceeded). */
  fail(count: number, status?: number, reason?: string): Promise<void>;
  /** Makes a Google Doc (`document`, `spreadsheet`, `presentation`) holding `text`, as the Docs editors would. */
  doc(name: string, text: string, options?: { parent?: string; kind?: string }): Promise<{ id: string }>;
  /** Makes a shared drive; resolves with its id. */
  sharedDrive(name: string): Promise<{ id: string }>;
  /** Requests served so far, by discovery method id (`drive.files.list`). */
  counts(): Promise<Record<string, number>>;
}

/** The Drive v3 discovery document (JSON), fetched once into the cache with pip. */
export async function driveDiscovery(): Promise<string> {
  const dir = await installed('drive-discovery', DRIVE_DISCOVERY_VERSION, async (work) => {
    // Debian's python3 comes without pip.
    await step('finding pip', 'python3', ['-m', 'pip', '--version']).catch(() => ensureDebian(['python3-pip']));
    await step('fetching google-api-python-client with pip', 'python3', [
      '-m',
      'pip',
      'download',
      `google-api-python-client==${DRIVE_DISCOVERY_VERSION}`,
      '--no-deps',
      '--quiet',
      '--dest',
      work,
    ]);
    const wheel = (await readdir(work)).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error('pip download left no wheel of google-api-python-client');
    await step('extracting the Drive v3 discovery document', 'python3', [
      '-c',
      'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("googleapiclient/discovery_cache/documents/drive.v3.json"))',
      join(work, wheel),
      join(work, 'drive.v3.json'),
    ]);
    await rm(join(work, wheel));
  });
  return join(dir, 'drive.v3.json');
}

/**
 * Starts the Drive stand-in on a free loopback port, its data in a temporary directory, with a
 * service account key file it accepts. `endpoint` is `http://127.0.0.1:<port>` (the client's
 * root URL).
 */
export async function startDrive(): Promise<DriveServer> {
  const discovery = await driveDiscovery();
  const dir = await mkdtemp(join(tmpdir(), 'shylock-drive-'));
  const proc: { child?: ChildProcess; port: number } = { port: await freePort() };
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'service-account.json');
  await writeFile(
    keyFile,
    JSON.stringify({
      type: 'service_account',
      project_id: 'shylock-test',
      private_key_id: 'shylock-test-key',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: 'shylock-test@shylock-test.iam.gserviceaccount.com',
      client_id: '100000000000000000001',
    }),
  );
  const oauth = { clientId: 'shylock-test.apps.googleusercontent.com', clientSecret: 'not-a-secret', refreshToken: `1//${Date.now()}` };
  const tokenFile = join(dir, 'oauth-token.json');
  await writeFile(
    tokenFile,
    JSON.stringify({
      type: 'authorized_user',
      client_id: oauth.clientId,
      client_secret: oauth.clientSecret,
      refresh_token: oauth.refreshToken,
    }),
  );
  const data = join(dir, 'data');
  const config = join(dir, 'config.json');
  const log = join(dir, 'drive.log');
  const script = fileURLToPath(new URL('./drive-fake.js', import.meta.url));
  const start = async () => {
    await writeFile(
      config,
      JSON.stringify({ port: proc.port, dir: data, discovery, publicKey: publicKey.export({ type: 'spki', format: 'pem' }), oauth }),
    );
    await rm(join(data, 'ready'), { force: true });
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, [script, config], { stdio: ['ignore', fd, fd] });
    proc.child = child;
    try {
      await waitFor(async () => existsSync(join(data, 'ready')), 'the Drive stand-in', child, 15_000);
    } catch (e) {
      child.kill('SIGKILL');
      const text = await readFile(log, 'utf8').catch(() => '');
      throw new Error(`${(e as Error).message}\n--- ${log} ---\n${text.trim().split('\n').slice(-15).join('\n')}`);
    }
  };
  await start();
  const url = () => `http://127.0.0.1:${proc.port}`;
  const control = async <T>(path: string, body: unknown = {}): Promise<T> => {
    const res = await fetch(`${url()}/__fake/${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`the Drive stand-in refused ${path}: ${await res.text()}`);
    return (await res.json()) as T;
  };
  const rootId = (await control<{ id: string }>('root')).id;
  const handle = serverHandle(proc, url, start, dir);
  return Object.assign(Object.create(handle) as TestServer, {
    keyFile,
    tokenFile,
    rootId,
    sharedDrive: (name: string) => control<{ id: string }>('shared-drive', { name }),
    fail: async (count: number, status = 429, reason = 'rateLimitExceeded') => void (await control('fail', { count, status, reason })),
    doc: (name: string, text: string, options: { parent?: string; kind?: string } = {}) =>
      control<{ id: string }>('doc', { name, text, parent: options.parent ?? rootId, kind: options.kind ?? 'document' }),
    counts: () => control<Record<string, number>>('counts'),
  }) as DriveServer;
}
