// Servers built from the Go module proxy: versitygw (a real S3 gateway) and fake-gcs-server.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goInstall, installed } from './cache.js';
import { freePort, serverHandle, type TestServer, waitFor } from './process.js';

export const VERSITYGW_VERSION = 'v1.7.0';
export const FAKE_GCS_VERSION = 'v1.55.1';

/** An S3 server with its credentials and a bucket ready. */
export interface S3Server extends TestServer {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** A bucket made at start. */
  readonly bucket: string;
}

const scratch = (name: string) => mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `shylock-${name}-`));

async function startLogged(what: string, bin: string, args: string[], env: NodeJS.ProcessEnv, log: string, ready: () => Promise<boolean>) {
  const fd = openSync(log, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  try {
    await waitFor(ready, what, child, 30_000);
  } catch (e) {
    child.kill('SIGKILL');
    const text = await readFile(log, 'utf8').catch(() => '');
    throw new Error(`${(e as Error).message}\n--- ${log} ---\n${text.trim().split('\n').slice(-15).join('\n')}`);
  }
  return child;
}

/**
 * Starts versitygw serving a temporary directory as S3 (its subdirectories are buckets) on a free
 * loopback port, with a bucket made. Built once with `go install` into the cache.
 */
export async function startS3(): Promise<S3Server> {
  const home = await installed('versitygw', VERSITYGW_VERSION, (dir) =>
    goInstall(dir, `github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}`).then(() => undefined),
  );
  const dir = await scratch('s3');
  const root = join(dir, 'root');
  const bucket = 'shylock-test';
  await mkdir(join(root, bucket), { recursive: true });
  const proc: { child?: ChildProcess; port: number } = { port: await freePort() };
  const accessKeyId = 'shylock';
  const secretAccessKey = 'shylock-secret';
  const log = join(dir, 'versitygw.log');
  const start = async () => {
    proc.child = await startLogged(
      'versitygw',
      join(home, 'bin', 'versitygw'),
      ['--port', `127.0.0.1:${proc.port}`, 'posix', root],
      { ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
      log,
      // Any HTTP answer (403 without a signature) means it listens.
      async () => (await fetch(`http://127.0.0.1:${proc.port}/`)).status > 0,
    );
  };
  await start();
  const handle = serverHandle(proc, () => `http://127.0.0.1:${proc.port}`, start, dir);
  return Object.assign(Object.create(handle) as TestServer, {
    accessKeyId,
    secretAccessKey,
    region: 'us-east-1',
    bucket,
  }) as S3Server;
}

/**
 * Starts fake-gcs-server (the Cloud Storage emulator) on a free loopback port over http, with its
 * objects in memory. `endpoint` is `http://127.0.0.1:<port>` (the client's `apiEndpoint`).
 */
export async function startGcs(): Promise<TestServer> {
  const home = await installed('fake-gcs-server', FAKE_GCS_VERSION, (dir) =>
    goInstall(dir, `github.com/fsouza/fake-gcs-server@${FAKE_GCS_VERSION}`).then(() => undefined),
  );
  const dir = await scratch('gcs');
  const proc: { child?: ChildProcess; port: number } = { port: await freePort() };
  const log = join(dir, 'fake-gcs-server.log');
  const start = async () => {
    const url = `http://127.0.0.1:${proc.port}`;
    proc.child = await startLogged(
      'fake-gcs-server',
      join(home, 'bin', 'fake-gcs-server'),
      [
        '-scheme',
        'http',
        '-host',
        '127.0.0.1',
        '-port',
        String(proc.port),
        '-backend',
        'memory',
        '-external-url',
        url,
        '-public-host',
        `127.0.0.1:${proc.port}`,
        '-log-level',
        'warn',
      ],
      {},
      log,
      async () => (await fetch(`${url}/_internal/healthcheck`)).ok,
    );
  };
  await start();
  return serverHandle(proc, () => `http://127.0.0.1:${proc.port}`, start, dir);
}

/**
 * A Go program built once into the cache from the Go module proxy (`pkg` as `go install` takes
 * it, `env` for the build such as a GOTOOLCHAIN); resolves with the path of its binary `name`.
 */
export async function goTool(name: string, version: string, pkg: string, env: Record<string, string> = {}): Promise<string> {
  const home = await installed(name, version, (dir) => goInstall(dir, pkg, env).then(() => undefined));
  return join(home, 'bin', name);
}
