import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DockerServer, startDocker, startOrSkip, startRedis } from '@shylock/test-servers';

// A real dockerd with `shylock docker` as its volume plugin (the command itself, as users run it).
const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));
const { server: engine, skip } = await startOrSkip(startDocker);
const { server: redis } = engine ? await startOrSkip(startRedis) : { server: undefined };
afterAll(async () => {
  await engine?.stop();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mountsUnder = (dir: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`));

/** `shylock docker` in the background (`--socket PATH`, or `--spec FILE`); resolves once it serves. */
async function startPlugin(where: string, root: string): Promise<{ child: ChildProcess; log: () => string }> {
  const flag = where.endsWith('.spec') ? '--spec' : '--socket';
  const child = spawn(process.execPath, [BIN, 'docker', flag, where, '--root', root], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  for (let i = 0; i < 100 && !log.includes('serving Docker volumes'); i++) {
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  if (!log.includes('serving Docker volumes')) throw new Error(`shylock docker did not start: ${log}`);
  return { child, log: () => log };
}
const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));

describe.skipIf(!engine)(`Docker volumes through shylock docker${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const driver = `shylock-test-${process.pid}`;
  const socket = `/run/docker/plugins/${driver}.sock`;
  let root: string;
  let plugin: { child: ChildProcess; log: () => string };
  let docker: DockerServer['docker'];
  let image: string;
  /** `docker run --rm` of a busybox shell command with volumes, no network; resolves stdout. */
  const sh = (volumes: string[], script: string, extra: string[] = []) =>
    docker(['run', '--rm', '--network', 'none', ...extra, ...volumes.flatMap((v) => ['-v', v]), image, 'sh', '-c', script]);
  const create = (name: string, options: Record<string, string>) =>
    docker(['volume', 'create', '-d', driver, ...Object.entries(options).flatMap(([k, v]) => ['-o', `${k}=${v}`]), name]);

  beforeAll(async () => {
    docker = engine!.docker;
    image = engine!.image;
    root = await mkdtemp(join(tmpdir(), 'shylock-docker-plugin-'));
    plugin = await startPlugin(socket, root);
  });
  afterAll(async () => {
    const ids = (await docker(['ps', '-aq']).catch(() => '')).split('\n').filter(Boolean);
    if (ids.length > 0) await docker(['rm', '-f', ...ids]).catch(() => undefined);
    if (plugin) {
      plugin.child.kill('SIGTERM');
      await exited(plugin.child);
    }
    for (const m of mountsUnder(root)) await run('umount', ['-l', m]).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  it('docker volume create, ls, inspect and rm with a memory volume; two containers share it while both run', async () => {
    await create('mem', { backend: 'memory' });
    expect(await docker(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).toContain(`${driver} mem`);
    const [inspected] = JSON.parse(await docker(['volume', 'inspect', 'mem'])) as [{ Driver: string; Status: Record<string, unknown> }];
    expect(inspected.Driver).toBe(driver);
    expect(inspected.Status).toMatchObject({ backend: 'memory', mounted: false, users: 0 });
    const writer = (
      await docker(['run', '-d', '--network', 'none', '-v', 'mem:/data', image, 'sh', '-c', 'echo shared > /data/note; sleep 60'])
    ).trim();
    try {
      let seen = '';
      for (let i = 0; i < 50 && seen !== 'shared\n'; i++) {
        seen = await sh(['mem:/data'], 'cat /data/note 2>/dev/null || true');
        if (seen !== 'shared\n') await sleep(200);
      }
      expect(seen).toBe('shared\n');
      expect(JSON.parse(await docker(['volume', 'inspect', 'mem']))[0].Status).toMatchObject({ mounted: true, users: 1 });
      await expect(docker(['volume', 'rm', 'mem'])).rejects.toThrow(/in use/);
    } finally {
      await docker(['rm', '-f', writer]);
    }
    // The last container gone: unmounted (a memory volume's files go with its mount).
    expect(JSON.parse(await docker(['volume', 'inspect', 'mem']))[0].Status).toMatchObject({ mounted: false, users: 0 });
    expect(mountsUnder(root)).toEqual([]);
    await docker(['volume', 'rm', 'mem']);
    expect(await docker(['volume', 'ls', '-q'])).not.toMatch(/^mem$/m);
  });

  it('a local volume: a container writes, the host and a second container read it back', async () => {
    const source = await mkdtemp(join(tmpdir(), 'shylock-docker-src-'));
    try {
      await create('files', { backend: 'local', source });
      await sh(['files:/data'], 'echo "from the container" > /data/out.txt');
      expect(await readFile(join(source, 'out.txt'), 'utf8')).toBe('from the container\n');
      await writeFile(join(source, 'in.txt'), 'from the host\n');
      expect(await sh(['files:/data'], 'cat /data/out.txt /data/in.txt')).toBe('from the container\nfrom the host\n');
      await docker(['volume', 'rm', 'files']);
      expect(existsSync(join(source, 'out.txt'))).toBe(true); // rm forgets the volume, not the data
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });

  it.skipIf(!redis)('a Redis volume: a key written in a container is read with redis-cli, and back', async () => {
    const [host, port] = redis!.endpoint.replace(/^redis:\/\//, '').split(':');
    await create('cache', { backend: 'redis', host: `${host}:${port}` });
    await sh(['cache:/data'], 'printf hello > /data/kv/greeting');
    expect((await run('redis-cli', ['-h', host!, '-p', port!, 'GET', 'greeting'])).stdout).toBe('hello\n');
    await run('redis-cli', ['-h', host!, '-p', port!, 'SET', 'answer', '42']);
    expect(await sh(['cache:/data'], 'cat /data/kv/answer')).toBe('42');
    await docker(['volume', 'rm', 'cache']);
  });

  it('a QoS option on a volume holds inside a container: 2 MiB read with dd at 512 KiB/s takes about 4 s', async () => {
    const source = await mkdtemp(join(tmpdir(), 'shylock-docker-src-'));
    try {
      await writeFile(join(source, 'big'), Buffer.alloc(2 << 20, 1));
      await create('slow', { backend: 'local', source, 'qos.read': '512KiB' });
      const fast = performance.now();
      await sh(['slow:/data'], 'true');
      const overhead = performance.now() - fast;
      const t0 = performance.now();
      const out = await sh(['slow:/data'], 'dd if=/data/big of=/dev/null bs=64k 2>&1');
      const seconds = (performance.now() - t0 - overhead) / 1000;
      expect(out).toMatch(/32\+0 records in/);
      // 2 MiB at 512 KiB/s after a burst of 128 KiB: about 3.75 s.
      expect(seconds).toBeGreaterThan(3);
      expect(seconds).toBeLessThan(12);
      await docker(['volume', 'rm', 'slow']);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });

  it("bad options fail docker volume create with the plugin's message", async () => {
    await expect(create('bad', { backend: 'memory', bogus: '1' })).rejects.toThrow(
      'Error response from daemon: create bad: VolumeDriver.Create: unknown option -o bogus (see shylock memory --help for its options)',
    );
    await expect(create('bad', { backend: 'memory', 'qos.read': 'fast' })).rejects.toThrow(
      /-o qos\.read=fast: .*not a non-negative number/,
    );
    await expect(create('bad', { source: '/tmp' })).rejects.toThrow(/name the backend: -o backend=/);
    expect(await docker(['volume', 'ls', '-q'])).not.toMatch(/^bad$/m);
  });

  it("a server that is down fails the container's start with the mount's own message", async () => {
    await create('down', { backend: 'redis', host: '127.0.0.1:1', timeout: '2000' });
    const t0 = performance.now();
    const failed = await sh(['down:/data'], 'true').then(
      () => '',
      (e: Error) => e.message,
    );
    expect(failed).toMatch(/VolumeDriver\.Mount: .*127\.0\.0\.1:1/);
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(mountsUnder(root)).toEqual([]);
    await docker(['volume', 'rm', 'down']);
  });

  it('a plugin found through a spec file serves as well; the file goes when the plugin stops', async () => {
    const name = `shylock-spec-${process.pid}`;
    const spec = `/etc/docker/plugins/${name}.spec`;
    const specRoot = await mkdtemp(join(tmpdir(), 'shylock-docker-spec-'));
    const other = await startPlugin(spec, specRoot);
    try {
      expect(readFileSync(spec, 'utf8')).toBe(`unix://${join(specRoot, 'plugin.sock')}\n`);
      await docker(['volume', 'create', '-d', name, '-o', 'backend=memory', 'viaspec']);
      expect(await sh(['viaspec:/data'], 'echo ok > /data/f && cat /data/f')).toBe('ok\n');
      await docker(['volume', 'rm', 'viaspec']);
    } finally {
      other.child.kill('SIGTERM');
      await exited(other.child);
      await rm(specRoot, { recursive: true, force: true });
    }
    expect(existsSync(spec)).toBe(false);
  });

  it('the plugin killed and started again keeps its volumes, and the mount a running container uses', async () => {
    const source = await mkdtemp(join(tmpdir(), 'shylock-docker-src-'));
    try {
      await create('durable', { backend: 'local', source });
      await create('spare', { backend: 'memory' });
      const id = (await docker(['run', '-d', '--network', 'none', '-v', 'durable:/data', image, 'sleep', '120'])).trim();
      const pid = JSON.parse(readFileSync(join(root, 'volumes.json'), 'utf8')).volumes.durable.pid as number;
      plugin.child.kill('SIGKILL');
      await exited(plugin.child);
      // The container's volume keeps working while no plugin runs.
      await docker(['exec', id, 'sh', '-c', 'echo during > /data/during.txt']);
      plugin = await startPlugin(socket, root);
      expect(plugin.log()).toContain(`volume durable: took over its mount (pid ${pid})`);
      expect(await docker(['volume', 'ls', '-q'])).toMatch(/^durable$[\s\S]*^spare$/m);
      await docker(['exec', id, 'sh', '-c', 'echo after > /data/after.txt']);
      expect(await readFile(join(source, 'during.txt'), 'utf8')).toBe('during\n');
      expect(await readFile(join(source, 'after.txt'), 'utf8')).toBe('after\n');
      // Its container stopped, the new plugin unmounts what the old one mounted.
      await docker(['rm', '-f', id]);
      for (let i = 0; i < 50 && mountsUnder(root).length > 0; i++) await sleep(100);
      expect(mountsUnder(root)).toEqual([]);
      await docker(['volume', 'rm', 'durable', 'spare']);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });
});
