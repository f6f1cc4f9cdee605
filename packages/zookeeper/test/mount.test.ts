import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import zookeeper, { type Client } from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, type Mount } from '@shylock/fuse';
import { createPolicy } from '@shylock/qos';
import { startOrSkip, startZooKeeper } from '@shylock/test-servers';
import { fileURLToPath } from 'node:url';
import { ZK_MAX_DATA, zookeeperBackend } from '../src/index.js';

const MOUNTER = fileURLToPath(new URL('./fixtures/mount.mjs', import.meta.url));

const { server: zk, skip } = await startOrSkip(startZooKeeper);
afterAll(() => zk?.stop());

const sh = (cmd: string, timeout = 20_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { maxBuffer: 64 << 20, timeout }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${++n}`;

/** Python: opens for writing, waits for a line on stdin, writes, closes, prints what close said. */
const HOLD_AND_WRITE = [
  'import errno, os, sys',
  'fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC | os.O_CREAT)',
  'print("open", flush=True)',
  'sys.stdin.readline()',
  'os.write(fd, sys.argv[2].encode())',
  'try:',
  '    os.close(fd)',
  '    print("close: ok", flush=True)',
  'except OSError as e:',
  '    print("close:", errno.errorcode[e.errno], flush=True)',
].join('\n');

/** Runs HOLD_AND_WRITE on `file`; `go()` lets it write `text` and close; resolves what it printed. */
const holdAndWrite = async (file: string, text: string) => {
  const child = spawn('python3', ['-c', HOLD_AND_WRITE, file, text], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 100 && !out.includes('open'); i++) await sleep(50);
  expect(out).toContain('open');
  return {
    go: async () => {
      child.stdin.write('\n');
      await new Promise((r) => child.once('exit', r));
      return out;
    },
  };
};

describe.skipIf(!zk)(`ZooKeeper mounted and used from the shell${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let mnt: string;
  let m: Mount;
  let client: Client;
  const call = <T>(f: (cb: (e: unknown, r: T) => void) => void) =>
    new Promise<T>((resolve, reject) => f((e, r) => (e ? reject(e) : resolve(r))));
  const getData = (path: string) => call<Buffer | undefined>((cb) => client.getData(path, cb));
  const setData = (path: string, text: string) => call((cb) => client.setData(path, Buffer.from(text), -1, cb));
  const create = (path: string, data?: string) =>
    call<string>((cb) => (data === undefined ? client.create(path, cb) : client.create(path, Buffer.from(data), cb)));
  const exists = (path: string) => call<zookeeper.Stat | null>((cb) => client.exists(path, cb));

  /** Requests the server has received so far (its `srvr` four-letter word), less the `srvr` asks. */
  let asked = 0;
  const received = () =>
    new Promise<number>((resolve, reject) => {
      asked++;
      const [host, port] = zk!.endpoint.split(':');
      const socket = connect(Number(port), host!, () => socket.end('srvr'));
      let text = '';
      socket.on('data', (d) => (text += d));
      socket.on('error', reject);
      socket.on('close', () => {
        const m = /Received: (\d+)/.exec(text);
        m ? resolve(Number(m[1]) - asked) : reject(new Error(`srvr answered: ${text}`));
      });
    });

  beforeAll(async () => {
    client = zookeeper.createClient(zk!.endpoint);
    client.connect();
    await new Promise((r) => client.once('connected', r));
    mnt = await mkdtemp(join(tmpdir(), 'shylock-zk-mnt-'));
    m = await mount(zookeeperBackend({ connect: zk!.endpoint, sessionTimeoutMs: 4000, timeoutMs: 3000 }), mnt, { attrTimeout: 1 });
  });
  afterAll(async () => {
    await m?.unmount();
    await rm(mnt, { recursive: true, force: true });
    client?.close();
  });

  it('files written with echo are znodes the client reads; znodes the client made are files and directories', async () => {
    const top = unique('cross');
    expect((await sh(`mkdir ${mnt}/${top} && echo 'timeout=30' > ${mnt}/${top}/app.conf`)).code).toBe(0);
    expect((await getData(`/${top}/app.conf`))?.toString()).toBe('timeout=30\n');
    // mkdir makes a znode with null data: a directory while it has no children.
    expect(await getData(`/${top}`)).toBeUndefined();
    await create(`/${top}/from-client`, 'hello');
    await create(`/${top}/node-dir`);
    const ls = await sh(`ls -F ${mnt}/${top} && cat ${mnt}/${top}/from-client`);
    expect(ls.stdout).toBe('app.conf\nfrom-client\nnode-dir/\nhello');
    // touch makes an empty file (empty data, not null).
    await sh(`touch ${mnt}/${top}/empty`);
    expect((await getData(`/${top}/empty`))?.length).toBe(0);
    expect((await sh(`stat -c %F ${mnt}/${top}/empty`)).stdout).toBe('regular empty file\n');
  });

  it('a znode with both data and children is a directory whose data is its .data file, both ways', async () => {
    const top = unique('both');
    await create(`/${top}`, 'parent data');
    await create(`/${top}/child`, 'c');
    expect((await sh(`ls -aF ${mnt}/${top}`)).stdout).toBe('./\n../\n.data\nchild\n');
    expect((await sh(`cat ${mnt}/${top}/.data`)).stdout).toBe('parent data');
    expect((await sh(`printf changed > ${mnt}/${top}/.data`)).code).toBe(0);
    expect((await getData(`/${top}`))?.toString()).toBe('changed');
    expect((await sh(`rm ${mnt}/${top}/.data`)).stderr).toMatch(/Operation not permitted/);
  });

  it('a change by another client shows through the mount within 2 s (watches), data and listings', async () => {
    const top = unique('watch');
    await create(`/${top}`);
    await create(`/${top}/v`, 'one');
    expect((await sh(`cat ${mnt}/${top}/v; ls ${mnt}/${top}`)).stdout).toBe('onev\n');
    await setData(`/${top}/v`, 'two');
    await create(`/${top}/w`, 'new');
    const t0 = performance.now();
    let seen = '';
    while (performance.now() - t0 < 2000) {
      seen = (await sh(`cat ${mnt}/${top}/v; echo; ls ${mnt}/${top}`)).stdout;
      if (seen === 'two\nv\nw\n') break;
      await sleep(100);
    }
    expect(seen).toBe('two\nv\nw\n');
  });

  it('reading the znodes of a directory by name reads the rest ahead; what was read ahead stays fresh (watched)', async () => {
    const top = unique('ahead');
    await create(`/${top}`);
    await Promise.all(Array.from({ length: 40 }, (_, i) => create(`/${top}/k${String(i).padStart(2, '0')}`, `v${i}`)));
    const before = await received();
    expect((await sh(`cat ${mnt}/${top}/k00 ${mnt}/${top}/k01`)).stdout).toBe('v0v1');
    // The read-ahead runs in the background: wait until the server's request count settles.
    let now = await received();
    for (let last = -1, i = 0; now - last > 1 && i < 40; i++) {
      await sleep(100);
      last = now;
      now = await received();
    }
    // Two reads by name are a handful of requests (3 measured); with the 38 others read ahead, 40 or more.
    expect(now - before).toBeGreaterThanOrEqual(30);
    await setData(`/${top}/k30`, 'changed');
    const t0 = performance.now();
    let seen = '';
    while (performance.now() - t0 < 2000) {
      seen = (await sh(`cat ${mnt}/${top}/k30`)).stdout;
      if (seen === 'changed') break;
      await sleep(100);
    }
    expect(seen).toBe('changed');
  });

  it('a write over a change another client made since the open fails at close with EIO; nothing is overwritten', async () => {
    const top = unique('conflict');
    await create(`/${top}`, 'original');
    const writer = await holdAndWrite(`${mnt}/${top}`, 'mine');
    await setData(`/${top}`, 'theirs');
    expect(await writer.go()).toBe('open\nclose: EIO\n');
    expect((await getData(`/${top}`))?.toString()).toBe('theirs');
    // Opened again, it writes.
    expect((await sh(`printf mine > ${mnt}/${top}`)).code).toBe(0);
    expect((await getData(`/${top}`))?.toString()).toBe('mine');
  });

  it('data over the 1 MiB limit fails EFBIG naming jute.maxbuffer; up to the limit is stored', async () => {
    const top = unique('big');
    const over = await sh(`head -c ${ZK_MAX_DATA + 1} /dev/zero > ${mnt}/${top}`);
    expect(over.stderr).toMatch(/File too large/);
    expect((await sh(`head -c ${ZK_MAX_DATA} /dev/zero > ${mnt}/${top} && stat -c %s ${mnt}/${top}`)).stdout).toBe(`${ZK_MAX_DATA}\n`);
    expect((await exists(`/${top}`))?.dataLength).toBe(ZK_MAX_DATA);
    const m2 = zookeeperBackend({ connect: zk!.endpoint });
    try {
      const h = await m2.open(`/${top}`, {
        read: false,
        write: true,
        append: true,
        create: false,
        exclusive: false,
        truncate: false,
        nofollow: false,
        sync: false,
        directory: false,
        noatime: false,
      });
      await expect(h.write!(new Uint8Array(1), null)).rejects.toMatchObject({ code: 'EFBIG', message: /jute\.maxbuffer/ });
      await h.close();
    } finally {
      await m2.close();
    }
  });

  it('ephemeral and sequential znodes through .ephemeral/ and .sequential/; the ephemeral ones end with the mount', async () => {
    const top = unique('modes');
    await sh(`mkdir ${mnt}/${top}`);
    const dir = await mkdtemp(join(tmpdir(), 'shylock-zk-eph-'));
    const other = await mount(zookeeperBackend({ connect: zk!.endpoint }), dir);
    try {
      expect((await sh(`echo up > ${dir}/${top}/.ephemeral/worker-1`)).code).toBe(0);
      const stat = await exists(`/${top}/worker-1`);
      expect(stat).not.toBeNull();
      expect(stat!.ephemeralOwner.readBigInt64BE(0)).not.toBe(0n);
      expect((await sh(`cat ${mnt}/${top}/worker-1`)).stdout).toBe('up\n');
      await sh(`echo a > ${mnt}/${top}/.sequential/job- && echo b > ${mnt}/${top}/.sequential/job-`);
      expect((await sh(`ls ${mnt}/${top}`)).stdout).toBe('job-0000000001\njob-0000000002\nworker-1\n');
      expect((await sh(`cat ${mnt}/${top}/job-0000000002`)).stdout).toBe('b\n');
    } finally {
      await other.unmount();
      await rm(dir, { recursive: true, force: true });
    }
    expect(await exists(`/${top}/worker-1`)).toBeNull();
  });

  it('rename moves a file, and a directory with its subtree, in one transaction', async () => {
    const top = unique('mv');
    await sh(`mkdir -p ${mnt}/${top}/a/b && echo deep > ${mnt}/${top}/a/b/c && echo f > ${mnt}/${top}/f`);
    expect(
      (await sh(`mv ${mnt}/${top}/f ${mnt}/${top}/g && mv ${mnt}/${top}/a ${mnt}/${top}/z && cat ${mnt}/${top}/z/b/c ${mnt}/${top}/g`))
        .stdout,
    ).toBe('deep\nf\n');
    expect(await exists(`/${top}/a`)).toBeNull();
    expect((await getData(`/${top}/z/b/c`))?.toString()).toBe('deep\n');
  });

  it('--prefix mounts a subtree; a missing prefix says so; read-only refuses changes with EROFS', async () => {
    const top = unique('prefix');
    await create(`/${top}`);
    await create(`/${top}/inside`, 'x');
    const dir = await mkdtemp(join(tmpdir(), 'shylock-zk-prefix-'));
    try {
      const sub = await mount(zookeeperBackend({ connect: zk!.endpoint, prefix: `/${top}`, readOnly: true }), dir);
      try {
        expect((await sh(`ls ${dir} && cat ${dir}/inside`)).stdout).toBe('inside\nx');
        expect((await sh(`echo y > ${dir}/inside`)).stderr).toMatch(/Read-only file system/);
      } finally {
        await sub.unmount();
      }
      const missing = zookeeperBackend({ connect: zk!.endpoint, prefix: `/${top}/nope` });
      await expect(missing.list('/')).rejects.toMatchObject({ code: 'ENOENT', message: /the prefix \/.*\/nope does not exist/ });
      await missing.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a QoS rule of 20 read ops/s paces cat of 40 znodes', async () => {
    const top = unique('qos');
    await create(`/${top}`);
    await Promise.all(Array.from({ length: 40 }, (_, i) => create(`/${top}/k${i}`, `v${i}`)));
    const dir = await mkdtemp(join(tmpdir(), 'shylock-zk-qos-'));
    const limited = await mount(zookeeperBackend({ connect: zk!.endpoint }), dir, {
      qos: createPolicy([{ path: `/${top}`, readOpsPerSec: 20 }]),
    });
    try {
      const t0 = performance.now();
      const out = await sh(`cat ${dir}/${top}/k* | wc -c`);
      const seconds = (performance.now() - t0) / 1000;
      expect(out.stdout.trim()).toBe(String(40 * 2 + 30 * 1));
      // 40 reads (and the listing's op) at 20/s: about 2 s.
      expect(seconds).toBeGreaterThan(1.7);
      expect(seconds).toBeLessThan(8);
    } finally {
      await limited.unmount();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a session lost while an ephemeral file is open (the mount silent past the session timeout): its close fails EIO; the mount goes on with a new session', async () => {
    const top = unique('session');
    await create(`/${top}`);
    const dir = await mkdtemp(join(tmpdir(), 'shylock-zk-session-'));
    const child = spawn(process.execPath, [MOUNTER, zk!.endpoint, dir, JSON.stringify({ sessionTimeoutMs: 4000 })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d) => String(d).includes('mounted') && resolve());
        child.once('exit', (code) => reject(new Error(`the mount exited ${code}`)));
      });
      const holder = await holdAndWrite(`${dir}/${top}/.ephemeral/lease`, 'renewed');
      expect(await exists(`/${top}/lease`)).not.toBeNull();
      // Stopped past the 4 s session timeout: the server ends the session and its ephemeral znode.
      child.kill('SIGSTOP');
      await sleep(7000);
      child.kill('SIGCONT');
      expect(await exists(`/${top}/lease`)).toBeNull();
      expect(await holder.go()).toBe('open\nclose: EIO\n');
      expect((await sh(`echo again > ${dir}/${top}/.ephemeral/lease && cat ${dir}/${top}/lease`)).stdout).toBe('again\n');
    } finally {
      child.kill('SIGCONT');
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await sh(`fusermount3 -uz ${dir}`);
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  // Last: it stops the server.
  it('the server stopped: reads fail EIO within seconds; back, the mount works again without a remount', async () => {
    const top = unique('outage');
    await sh(`mkdir ${mnt}/${top} && echo before > ${mnt}/${top}/k`);
    client.close();
    await zk!.kill();
    try {
      const t0 = performance.now();
      const r = await sh(`cat ${mnt}/${top}/k; ls ${mnt}/${top}/nothing-cached-here`, 30_000);
      expect(r.stderr).toMatch(/Input\/output error/);
      expect((performance.now() - t0) / 1000).toBeLessThan(10);
    } finally {
      await zk!.restart();
    }
    let back = '';
    for (let i = 0; i < 60 && back !== 'before\n'; i++) {
      back = (await sh(`cat ${mnt}/${top}/k`)).stdout;
      if (back !== 'before\n') await sleep(250);
    }
    expect(back).toBe('before\n');
  }, 90_000);
});
