// What every starter shares: waiting for readiness, stopping at exit, the TestServer handle.
import { type ChildProcess, execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A running server. */
export interface TestServer {
  /** How clients reach it, e.g. `http://127.0.0.1:23791`. */
  readonly endpoint: string;
  readonly port: number;
  /** The server's temporary directory (data, configuration, log); removed by `stop()`. */
  readonly dir: string;
  /** Stops the server and removes its data. Idempotent. */
  stop(): Promise<void>;
  /** Stops the process but keeps the data, for outage tests; `restart()` brings it back. */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

/** Polls `check` until it holds; fails when the child exits or time runs out. */
export async function waitFor(check: () => Promise<boolean>, what: string, child: ChildProcess, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} while starting`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not become ready in ${ms} ms`);
}

/**
 * Servers still running, stopped when this process ends even where no `afterAll` ran (a run
 * filtered with `-t` that skips a file's every test, a test file that threw). vitest ends its
 * workers with SIGTERM, whose default action skips 'exit' handlers.
 */
const running = new Set<() => void>();
const stopAll = () => {
  for (const stop of running) stop();
  running.clear();
};
process.on('exit', stopAll);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    stopAll();
    process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
  });
}

/** The TestServer of a child process: kill/restart keep `dir`, stop removes it. */
export function serverHandle(
  proc: { child?: ChildProcess | undefined; port: number },
  endpoint: () => string,
  start: () => Promise<void>,
  dir: string,
  /** A server that must clean up after itself (dockerd's mounts) gets SIGTERM and this long first. */
  graceful?: { graceMs: number },
): TestServer {
  const kill = async () => {
    const c = proc.child;
    proc.child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    if (graceful) {
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), graceful.graceMs);
      await exited;
      clearTimeout(timer);
      return;
    }
    c.kill('SIGKILL');
    await exited;
  };
  let stopped = false;
  const atExit = () => {
    proc.child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  running.add(atExit);
  return {
    get endpoint() {
      return endpoint();
    },
    get port() {
      return proc.port;
    },
    dir,
    kill,
    restart: start,
    async stop() {
      if (stopped) return;
      stopped = true;
      running.delete(atExit);
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Installs Debian packages that are missing (root only). */
export async function ensureDebian(packages: string[]): Promise<void> {
  const missing: string[] = [];
  for (const p of packages) {
    if (
      !(await run('dpkg', ['-s', p]).then(
        () => true,
        () => false,
      ))
    )
      missing.push(p);
  }
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages ${missing.join(' ')}: apt-get install -y ${missing.join(' ')}`);
  await run('apt-get', ['update', '-qq'], { timeout: 300_000 });
  await run('apt-get', ['install', '-y', '-qq', ...missing], {
    timeout: 600_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}
