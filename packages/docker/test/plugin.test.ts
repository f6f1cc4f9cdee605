import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandLauncher, createVolumePlugin, type VolumePlugin } from '../src/index.js';

// The plugin as Docker sees it, without Docker: its endpoints called directly and over its
// socket, each volume a real `shylock` process mounting through FUSE.
const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));
const launcher = commandLauncher([process.execPath, BIN]);
const mounted = (dir: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A POST over the plugin's socket, as Docker sends it: no Content-Type. */
const post = (socket: string, path: string, body: string, method = 'POST') =>
  new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ socketPath: socket, path, method }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });

describe('the volume plugin, endpoint by endpoint', () => {
  let root: string;
  let plugin: VolumePlugin;
  const call = async (endpoint: string, req: unknown = {}) => plugin.handle(endpoint, JSON.stringify(req));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'shylock-docker-root-'));
    plugin = await createVolumePlugin({ root, launcher });
  });
  afterAll(async () => {
    await plugin?.close({ unmount: true });
    await rm(root, { recursive: true, force: true });
  });

  it('activates as a volume driver, local scope, and lists no volumes at first', async () => {
    expect(await call('/Plugin.Activate')).toEqual({ status: 200, body: { Implements: ['VolumeDriver'] } });
    expect(await call('/VolumeDriver.Capabilities')).toEqual({ status: 200, body: { Capabilities: { Scope: 'local' } } });
    expect(await call('/VolumeDriver.List')).toEqual({ status: 200, body: { Volumes: [] } });
    expect(await call('/VolumeDriver.Get', { Name: 'nothing' })).toEqual({ status: 500, body: { Err: 'no such volume: nothing' } });
  });

  it('refuses bad options at create with a message that names what to fix, and keeps nothing', async () => {
    const create = async (Opts: unknown, Name = 'bad') => (await call('/VolumeDriver.Create', { Name, Opts })).body;
    expect(await create({})).toEqual({ Err: expect.stringMatching(/^name the backend: -o backend=<local\|memory/) });
    expect(await create({ backend: 'floppy' })).toEqual({
      Err: expect.stringMatching(/^unknown backend "floppy": choose one of memory, local, etcd/),
    });
    expect(await create({ backend: 'memory', bogus: '1' })).toEqual({
      Err: 'unknown option -o bogus (see shylock memory --help for its options)',
    });
    expect(await create({ backend: 'redis', timeout: '-3' })).toEqual({ Err: expect.stringMatching(/--timeout/) });
    expect(await create({ backend: 'memory', 'qos.read': '10XB' })).toEqual({
      Err: expect.stringMatching(/^-o qos\.read=10XB: .*unknown unit "XB"/),
    });
    expect(await create({ backend: 'memory', 'qos.speed': '1' })).toEqual({ Err: expect.stringMatching(/^unknown option -o qos\.speed/) });
    expect(await create({ backend: 'memory', 'env-file': '/nonexistent/aws.env' })).toEqual({
      Err: '-o env-file=/nonexistent/aws.env: no such file',
    });
    expect(await create({ backend: 'local', source: '/nonexistent/dir' })).toEqual({
      Err: 'the directory to serve, /nonexistent/dir, does not exist',
    });
    expect(await create({ backend: 'memory', 'allow-other': 'true' })).toEqual({
      Err: expect.stringMatching(/^-o allow-other is not a volume option/),
    });
    expect(await create({ backend: 'memory' }, '../escape')).toEqual({ Err: expect.stringMatching(/is not a volume name/) });
    expect(await create('not an object')).toEqual({ Err: expect.stringMatching(/"Opts" must be an object/) });
    expect((await call('/VolumeDriver.List')).body).toEqual({ Volumes: [] });
  });

  it('mounts a volume once for every user (Docker mounts twice per container) and unmounts it when the last leaves', async () => {
    expect(await call('/VolumeDriver.Create', { Name: 'scratch', Opts: { backend: 'memory' } })).toEqual({ status: 200, body: {} });
    // Docker asks again with the same options: fine; with others: refused.
    expect((await call('/VolumeDriver.Create', { Name: 'scratch', Opts: { backend: 'memory' } })).status).toBe(200);
    expect((await call('/VolumeDriver.Create', { Name: 'scratch', Opts: { backend: 'local', source: root } })).body).toEqual({
      Err: expect.stringMatching(/^volume scratch exists with other options/),
    });
    const mountpoint = join(root, 'volumes', 'scratch');
    expect((await call('/VolumeDriver.Path', { Name: 'scratch' })).body).toEqual({ Mountpoint: '' });
    expect((await call('/VolumeDriver.Mount', { Name: 'scratch', ID: 'a' })).body).toEqual({ Mountpoint: mountpoint });
    expect(mounted(mountpoint)).toBe(true);
    const pid = JSON.parse(readFileSync(plugin.stateFile, 'utf8')).volumes.scratch.pid as number;
    expect((await call('/VolumeDriver.Mount', { Name: 'scratch', ID: 'b' })).body).toEqual({ Mountpoint: mountpoint });
    expect(JSON.parse(readFileSync(plugin.stateFile, 'utf8')).volumes.scratch).toMatchObject({ pid, users: ['a', 'b'] });
    await writeFile(join(mountpoint, 'hello.txt'), 'hello from the host\n');
    expect((await call('/VolumeDriver.Get', { Name: 'scratch' })).body).toMatchObject({
      Volume: { Name: 'scratch', Mountpoint: mountpoint, Status: { backend: 'memory', mounted: true, users: 2 } },
    });
    expect((await call('/VolumeDriver.Remove', { Name: 'scratch' })).body).toEqual({
      Err: 'volume scratch is in use by 2 container mount(s): stop them first',
    });
    await call('/VolumeDriver.Unmount', { Name: 'scratch', ID: 'a' });
    expect(await readFile(join(mountpoint, 'hello.txt'), 'utf8')).toBe('hello from the host\n');
    await call('/VolumeDriver.Unmount', { Name: 'scratch', ID: 'b' });
    expect(mounted(mountpoint)).toBe(false);
    expect(alive(pid)).toBe(false);
    expect((await call('/VolumeDriver.Remove', { Name: 'scratch' })).body).toEqual({});
    expect((await call('/VolumeDriver.List')).body).toEqual({ Volumes: [] });
    expect(existsSync(mountpoint)).toBe(false);
  });

  it('a QoS option limits the whole volume: 1 MiB read at 256 KiB/s takes about 4 s', async () => {
    const source = await mkdtemp(join(tmpdir(), 'shylock-docker-src-'));
    try {
      await writeFile(join(source, 'big'), Buffer.alloc(1 << 20, 7));
      const opts = { backend: 'local', source, 'qos.read': '256KiB' };
      expect((await call('/VolumeDriver.Create', { Name: 'slow', Opts: opts })).body).toEqual({});
      const { Mountpoint } = (await call('/VolumeDriver.Mount', { Name: 'slow', ID: 'x' })).body as { Mountpoint: string };
      const t0 = performance.now();
      await run('dd', [`if=${join(Mountpoint, 'big')}`, 'of=/dev/null', 'bs=64k']);
      const seconds = (performance.now() - t0) / 1000;
      // 1 MiB at 256 KiB/s after a burst of 128 KiB: 3.5 s.
      expect(seconds).toBeGreaterThan(3);
      expect(seconds).toBeLessThan(8);
      await call('/VolumeDriver.Unmount', { Name: 'slow', ID: 'x' });
      await call('/VolumeDriver.Remove', { Name: 'slow' });
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });

  it('a compose volume: many backends under one volume, from a tree file', async () => {
    const source = await mkdtemp(join(tmpdir(), 'shylock-docker-src-'));
    try {
      await writeFile(join(source, 'data.txt'), 'on disk\n');
      const tree = join(source, 'tree.json');
      await writeFile(tree, JSON.stringify({ '/disk': { backend: 'local', source }, '/scratch': { backend: 'memory' } }));
      expect((await call('/VolumeDriver.Create', { Name: 'tree', Opts: { backend: 'compose', source: tree } })).body).toEqual({});
      const { Mountpoint } = (await call('/VolumeDriver.Mount', { Name: 'tree', ID: 'x' })).body as { Mountpoint: string };
      expect((await run('ls', [Mountpoint])).stdout).toBe('disk\nscratch\n');
      expect(await readFile(join(Mountpoint, 'disk', 'data.txt'), 'utf8')).toBe('on disk\n');
      await call('/VolumeDriver.Unmount', { Name: 'tree', ID: 'x' });
      await call('/VolumeDriver.Remove', { Name: 'tree' });
      await writeFile(tree, '{"/x": {"backend": "memory", "bogus": "1"}}');
      expect((await call('/VolumeDriver.Create', { Name: 'tree', Opts: { backend: 'compose', source: tree } })).body).toEqual({
        Err: `${tree}: /x: memory has no option "bogus" (see shylock memory --help)`,
      });
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });

  it('a mount process that dies is mounted again at the next use', async () => {
    await call('/VolumeDriver.Create', { Name: 'fragile', Opts: { backend: 'memory' } });
    const mountpoint = ((await call('/VolumeDriver.Mount', { Name: 'fragile', ID: 'x' })).body as { Mountpoint: string }).Mountpoint;
    const pid = JSON.parse(readFileSync(plugin.stateFile, 'utf8')).volumes.fragile.pid as number;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && (alive(pid) || mounted(mountpoint)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(mounted(mountpoint)).toBe(false);
    expect((await call('/VolumeDriver.Path', { Name: 'fragile' })).body).toEqual({ Mountpoint: '' });
    expect((await call('/VolumeDriver.Mount', { Name: 'fragile', ID: 'y' })).body).toEqual({ Mountpoint: mountpoint });
    expect(mounted(mountpoint)).toBe(true);
    await call('/VolumeDriver.Unmount', { Name: 'fragile', ID: 'x' });
    await call('/VolumeDriver.Unmount', { Name: 'fragile', ID: 'y' });
    await call('/VolumeDriver.Remove', { Name: 'fragile' });
  });
});

describe('the plugin over its socket', () => {
  let root: string;
  let socket: string;
  let plugin: VolumePlugin;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'shylock-docker-root-'));
    socket = join(root, 'plugins', 'shylock-test.sock');
    plugin = await createVolumePlugin({ root, launcher });
    await plugin.listen(socket);
  });
  afterAll(async () => {
    await plugin?.close({ unmount: true });
    await rm(root, { recursive: true, force: true });
  });

  it('answers malformed requests with 4xx and {"Err": …}, and JSON without a Content-Type', async () => {
    expect(await post(socket, '/Plugin.Activate', '')).toEqual({ status: 200, body: { Implements: ['VolumeDriver'] } });
    expect(await post(socket, '/VolumeDriver.Create', '{"Name": "x", "Opts": ')).toEqual({
      status: 400,
      body: { Err: expect.stringMatching(/^the request body is not JSON/) },
    });
    expect(await post(socket, '/VolumeDriver.Create', '[1, 2]')).toEqual({
      status: 400,
      body: { Err: 'the request body must be a JSON object' },
    });
    expect(await post(socket, '/VolumeDriver.Mount', '{}')).toEqual({ status: 400, body: { Err: 'the request names no volume ("Name")' } });
    expect(await post(socket, '/VolumeDriver.Create', '{"Name": 7}')).toEqual({
      status: 400,
      body: { Err: 'the request names no volume ("Name")' },
    });
    expect((await post(socket, '/VolumeDriver.Explode', '{}')).status).toBe(404);
    expect((await post(socket, '/VolumeDriver.List', '', 'GET')).status).toBe(405);
    expect((await post(socket, '/VolumeDriver.Create', JSON.stringify({ Name: 'ok', Opts: { backend: 'memory' } }))).status).toBe(200);
    expect((await post(socket, '/VolumeDriver.List', '')).body).toMatchObject({ Volumes: [{ Name: 'ok', Mountpoint: '' }] });
  });

  it('a second plugin on the same socket is refused while the first serves', async () => {
    const otherRoot = await mkdtemp(join(tmpdir(), 'shylock-docker-root-'));
    try {
      const other = await createVolumePlugin({ root: otherRoot, launcher });
      await expect(other.listen(socket)).rejects.toThrow(`another process serves ${socket}`);
      await other.close();
    } finally {
      await rm(otherRoot, { recursive: true, force: true });
    }
  });
});

describe('the state file', () => {
  it('a plugin restarted finds its volumes and takes over the mounts in use; one unused stays unmounted', async () => {
    const root = await mkdtemp(join(tmpdir(), 'shylock-docker-root-'));
    let first: VolumePlugin | undefined;
    let second: VolumePlugin | undefined;
    try {
      first = await createVolumePlugin({ root, launcher });
      await first.handle('/VolumeDriver.Create', JSON.stringify({ Name: 'kept', Opts: { backend: 'memory' } }));
      await first.handle('/VolumeDriver.Create', JSON.stringify({ Name: 'idle', Opts: { backend: 'memory' } }));
      await first.handle('/VolumeDriver.Mount', JSON.stringify({ Name: 'kept', ID: 'c1' }));
      const mountpoint = join(root, 'volumes', 'kept');
      await writeFile(join(mountpoint, 'note'), 'still here');
      const pid = JSON.parse(readFileSync(first.stateFile, 'utf8')).volumes.kept.pid as number;
      await first.close(); // a plugin stopping leaves the mounts in use running
      first = undefined;
      expect(mounted(mountpoint)).toBe(true);

      second = await createVolumePlugin({ root, launcher });
      expect((await second.handle('/VolumeDriver.List', '')).body).toMatchObject({
        Volumes: [
          { Name: 'kept', Mountpoint: mountpoint },
          { Name: 'idle', Mountpoint: '' },
        ],
      });
      expect(await readFile(join(mountpoint, 'note'), 'utf8')).toBe('still here');
      expect(JSON.parse(readFileSync(second.stateFile, 'utf8')).volumes.kept.pid).toBe(pid);
      await second.handle('/VolumeDriver.Unmount', JSON.stringify({ Name: 'kept', ID: 'c1' }));
      for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive(pid)).toBe(false);
      expect(mounted(mountpoint)).toBe(false);
    } finally {
      await first?.close({ unmount: true });
      await second?.close({ unmount: true });
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a state file that cannot be read is reported and kept aside, not dropped', async () => {
    const root = await mkdtemp(join(tmpdir(), 'shylock-docker-root-'));
    try {
      await writeFile(join(root, 'volumes.json'), '{"version": 1, "volumes": {"a": ');
      const lines: string[] = [];
      const plugin = await createVolumePlugin({ root, launcher, log: (l) => lines.push(l) });
      const aside = readdirSync(root).filter((f) => f.startsWith('volumes.json.corrupt-'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(root, aside[0]!), 'utf8')).toBe('{"version": 1, "volumes": {"a": ');
      expect(lines.join('\n')).toMatch(/could not be read .* kept as .*volumes\.json\.corrupt-.*; starting with no volumes/);
      expect((await plugin.handle('/VolumeDriver.List', '')).body).toEqual({ Volumes: [] });
      await plugin.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
