// Real servers for shylock's tests, started on free loopback ports with temporary data
// directories and stopped after. A missing Debian package is installed when running as root.
// In CI (CI=true) a server that cannot start is an error; elsewhere the caller may skip, saying why.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureDebian, freePort, serverHandle, type TestServer, waitFor } from './process.js';

export { ensureDebian, freePort } from './process.js';
export { KAFKA_VERSION, ELASTICMQ_VERSION, startKafka, startSqs, startZooKeeper } from './java.js';
export { cacheRoot } from './cache.js';
export { daemonMount, dropCaches, format, Rounds, seconds } from './bench.js';
export { type KilledDuringWrite, killDuringWrite } from './faults.js';
export { gitTarRoundTrip, QOS_READ_RULES, qosReads, shell } from './scenarios.js';
export { type DockerServer, startDocker } from './docker.js';
export { DRIVE_DISCOVERY_VERSION, type DriveServer, driveDiscovery, startDrive } from './drive.js';
export { FAKE_GCS_VERSION, goTool, type S3Server, startGcs, startS3, VERSITYGW_VERSION } from './go.js';

const run = promisify(execFile);

export type { TestServer } from './process.js';

/**
 * Starts etcd (Debian `etcd-server`) on free loopback ports, data in /dev/shm when present.
 * Ready when `/health` says `{"health":"true"}`.
 */
export async function startEtcd(): Promise<TestServer> {
  await ensureDebian(['etcd-server', 'etcd-client']);
  const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-etcd-'));
  const proc: { child?: ChildProcess; port: number } = { port: await freePort() };
  const start = async () => {
    const port = proc.port;
    const peer = await freePort();
    const c = (proc.child = spawn(
      'etcd',
      [
        '--name',
        't',
        '--data-dir',
        join(dir, 'data'),
        '--listen-client-urls',
        `http://127.0.0.1:${port}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${port}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-cluster',
        `t=http://127.0.0.1:${peer}`,
        '--log-level',
        'error',
      ],
      { stdio: 'ignore' },
    ));
    await waitFor(
      async () => ((await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { health?: string }).health === 'true',
      'etcd',
      c,
    );
  };
  await start();
  return serverHandle(proc, () => `http://127.0.0.1:${proc.port}`, start, dir);
}

/**
 * Starts Redis (Debian `redis-server`) on a free loopback port with no persistence and a
 * temporary working directory. Ready when `redis-cli ping` answers PONG. `kill()` loses the data
 * (nothing is saved); `restart()` starts an empty server on the same port.
 */
export async function startRedis(): Promise<TestServer> {
  await ensureDebian(['redis-server', 'redis-tools']);
  const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-redis-'));
  const proc: { child?: ChildProcess; port: number } = { port: await freePort() };
  const start = async () => {
    const port = String(proc.port);
    const c = (proc.child = spawn(
      'redis-server',
      ['--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'],
      { stdio: 'ignore' },
    ));
    await waitFor(async () => (await run('redis-cli', ['-p', port, 'ping'])).stdout.trim() === 'PONG', 'redis-server', c);
  };
  await start();
  return serverHandle(proc, () => `127.0.0.1:${proc.port}`, start, dir);
}

/**
 * Starts a server for a test file, or explains why not. In CI (CI=true) a failure throws; elsewhere
 * it returns the reason, for `describe.skipIf`.
 */
export async function startOrSkip<T>(start: () => Promise<T>): Promise<{ server?: T; skip?: string }> {
  try {
    return { server: await start() };
  } catch (e) {
    if (process.env.CI) throw e;
    return { skip: (e as Error).message };
  }
}

/** libfuse's C passthrough example, mounted: the reference FUSE file system of the benchmarks. */
export interface Passthrough {
  readonly mountpoint: string;
  /** Where `dir` appears through the mount (the example serves the whole root file system). */
  through(dir: string): string;
  /** Unmounts, ends the process and removes the mountpoint. Idempotent. */
  stop(): Promise<void>;
}

const PASSTHROUGH_SRC = '/usr/share/doc/libfuse3-dev/examples/passthrough.c';

/**
 * Builds libfuse's C passthrough example from Debian's `libfuse3-dev` (with gcc and pkg-config)
 * and mounts it in the foreground on a new directory under `parent`, with its extended attribute
 * calls compiled in (HAVE_SETXATTR), as shylock's local mounts have them. Ready when the kernel
 * lists the mount.
 */
export async function startPassthrough(parent = tmpdir()): Promise<Passthrough> {
  await ensureDebian(['libfuse3-dev', 'pkg-config', 'gcc', 'fuse3']);
  const dir = await mkdtemp(join(parent, 'shylock-passthrough-'));
  const bin = join(dir, 'passthrough');
  const mountpoint = join(dir, 'mnt');
  await run('bash', [
    '-c',
    `gcc -Wall -O2 -DHAVE_SETXATTR ${PASSTHROUGH_SRC} -o ${bin} $(pkg-config fuse3 --cflags --libs) && mkdir ${mountpoint}`,
  ]);
  const child = spawn(bin, ['-f', mountpoint], { stdio: 'ignore' });
  const mounted = async () => (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === mountpoint);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await run('fusermount3', ['-u', mountpoint]).catch(() => run('umount', ['-l', mountpoint]).catch(() => undefined));
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(mounted, 'the C passthrough', child);
  } catch (e) {
    await stop();
    throw e;
  }
  return { mountpoint, through: (d) => join(mountpoint, d), stop };
}
