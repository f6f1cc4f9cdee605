// Servers installed once per machine, into a cache outside the repository, keyed by a pinned
// version, with a lock so that test files running in parallel never install twice.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where installed servers live: `$SHYLOCK_SERVERS_CACHE`, else `~/.cache/shylock-servers`. */
export function cacheRoot(): string {
  return process.env.SHYLOCK_SERVERS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'shylock-servers');
}

/** A lock older than this is left by a process that died while installing. */
const STALE_LOCK_MS = 30 * 60_000;

/**
 * The directory of `name` at `version`, installed by `install(dir)` the first time on this
 * machine. Concurrent callers wait for the one that installs. A failed install leaves nothing
 * behind and rejects with what failed.
 */
export async function installed(name: string, version: string, install: (dir: string) => Promise<void>): Promise<string> {
  const root = cacheRoot();
  const dir = join(root, `${name}-${version}`);
  const done = join(dir, '.installed');
  if (existsSync(done)) return dir;
  await mkdir(root, { recursive: true });
  const lock = `${dir}.lock`;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (existsSync(done)) return dir;
      const age =
        Date.now() -
        (await stat(lock).then(
          (s) => s.mtimeMs,
          () => Date.now(),
        ));
      if (age > STALE_LOCK_MS) await rm(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (existsSync(done)) return dir;
    const work = `${dir}.tmp-${process.pid}`;
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    try {
      await install(work);
    } catch (e) {
      await rm(work, { recursive: true, force: true });
      throw e;
    }
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
    await writeFile(done, `${new Date().toISOString()}\n`);
    return dir;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Runs an install step; a failure says which step and its last output lines. */
export async function step(
  what: string,
  file: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
) {
  try {
    return await run(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      timeout: options.timeoutMs ?? 900_000,
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    const tail = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`${what} failed (${file} ${args.join(' ')}): ${tail || err.message}`);
  }
}

/**
 * Copies a Maven artifact and its runtime dependencies into `dir/lib` (Maven's own repository
 * is kept in the cache, so a second server reuses what the first fetched).
 */
export async function mavenLib(dir: string, dependencies: string[]): Promise<string> {
  const deps = dependencies
    .map((gav) => {
      const [groupId, artifactId, version] = gav.split(':');
      return `<dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`;
    })
    .join('');
  const pom = `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>shylock.test</groupId><artifactId>server</artifactId><version>1</version><packaging>pom</packaging>
<dependencies>${deps}</dependencies></project>\n`;
  await writeFile(join(dir, 'pom.xml'), pom);
  await step(
    'fetching the server from Maven Central',
    'mvn',
    [
      '-B',
      '-q',
      `-Dmaven.repo.local=${join(cacheRoot(), 'm2')}`,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${join(dir, 'lib')}`,
    ],
    { cwd: dir },
  );
  return join(dir, 'lib');
}

/** `go install module@version` into `dir/bin`, with Go's caches in the cache. */
export async function goInstall(dir: string, pkg: string, env: Record<string, string> = {}): Promise<string> {
  const root = cacheRoot();
  await step('building the server from the Go module proxy', 'go', ['install', pkg], {
    env: {
      ...env,
      GOBIN: join(dir, 'bin'),
      GOPATH: join(root, 'go'),
      GOMODCACHE: join(root, 'go', 'pkg', 'mod'),
      GOCACHE: join(root, 'go', 'build-cache'),
      GOFLAGS: '-mod=mod',
      CGO_ENABLED: '0',
    },
  });
  return join(dir, 'bin');
}
