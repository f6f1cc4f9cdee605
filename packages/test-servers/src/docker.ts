// A real Docker engine (Debian docker.io), with a local busybox image: no image can be pulled here.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { step } from './cache.js';
import { ensureDebian, serverHandle, type TestServer, waitFor } from './process.js';

const run = promisify(execFile);

/** A Docker engine: `docker(args)` runs the client against it. */
export interface DockerServer extends TestServer {
  /** `unix:///…/docker.sock`, for DOCKER_HOST. */
  readonly host: string;
  /** An image made from Debian's busybox-static, for `docker run`. */
  readonly image: string;
  /** Runs `docker …` against this engine; resolves with stdout. */
  docker(args: string[], options?: { timeoutMs?: number }): Promise<string>;
}

/**
 * Starts dockerd as root with its data root, exec root, pid file and socket in a temporary
 * directory (no iptables, no bridge, the vfs storage driver), and imports `busybox:local` from a
 * tarball of Debian's busybox-static. `endpoint` is the socket's `unix://` URL.
 */
export async function startDocker(): Promise<DockerServer> {
  await ensureDebian(['docker.io', 'busybox-static']);
  if (process.getuid?.() !== 0) throw new Error('startDocker needs root (dockerd)');
  const dir = await mkdtemp(join(tmpdir(), 'shylock-docker-'));
  const sock = join(dir, 'docker.sock');
  const host = `unix://${sock}`;
  const proc: { child?: ChildProcess; port: number } = { port: 0 };
  const log = join(dir, 'dockerd.log');
  const docker = async (args: string[], options: { timeoutMs?: number } = {}) =>
    (await run('docker', args, { env: { ...process.env, DOCKER_HOST: host }, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 << 20 }))
      .stdout;
  const start = async () => {
    const fd = openSync(log, 'a');
    const child = spawn(
      'dockerd',
      [
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--storage-driver=vfs',
        `--data-root=${join(dir, 'data')}`,
        `--exec-root=${join(dir, 'exec')}`,
        `--pidfile=${join(dir, 'docker.pid')}`,
        '-H',
        host,
      ],
      { stdio: ['ignore', fd, fd] },
    );
    proc.child = child;
    try {
      await waitFor(
        async () => (await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 2000 })).trim() !== '',
        'dockerd',
        child,
        30_000,
      );
    } catch (e) {
      child.kill('SIGKILL');
      const text = await readFile(log, 'utf8').catch(() => '');
      throw new Error(`${(e as Error).message}\n--- ${log} ---\n${text.trim().split('\n').slice(-15).join('\n')}`);
    }
  };
  await start();
  // busybox:local — /bin/busybox and a link per applet, imported from a tarball.
  const image = 'busybox:local';
  const root = join(dir, 'image');
  await mkdir(join(root, 'bin'), { recursive: true });
  await step('copying busybox', 'cp', ['/bin/busybox', join(root, 'bin', 'busybox')]);
  const applets = (await run('/bin/busybox', ['--list'])).stdout.split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') await symlink('busybox', join(root, 'bin', a)).catch(() => undefined);
  for (const d of ['data', 'tmp', 'proc', 'sys', 'dev', 'etc']) await mkdir(join(root, d), { recursive: true });
  await step('packing busybox', 'tar', ['-C', root, '-cf', join(dir, 'busybox.tar'), '.']);
  await docker(['import', join(dir, 'busybox.tar'), image]);
  const handle = serverHandle(proc, () => host, start, dir, { graceMs: 10_000 });
  return Object.assign(Object.create(handle) as TestServer, { host, image, docker }) as DockerServer;
}
