import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isMounted, unmountPath } from '@shylock/fuse';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `shylock ...args`; resolves once it says it mounted (or exits). */
async function start(args: string[], env: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await Promise.race([
    exited,
    new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (/mounted .* at /.test(err)) {
          clearInterval(check);
          resolve();
        }
      }, 20);
      void exited.then(() => clearInterval(check));
    }),
  ]);
  return { child, stderr: () => err + out, exited };
}

/** Runs `shylock ...args` to the end. */
async function runCli(args: string[], env: Record<string, string> = {}) {
  const r = await start(args, env);
  const code = await r.exited;
  return { code, output: r.stderr() };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `shylock-cli-${prefix}-`));
  cleanups.push(async () => {
    await unmountPath(dir).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

describe('shylock', () => {
  it('--help prints the usage and exits 0; every backend has its own --help', async () => {
    const main = await runCli(['--help']);
    expect(main.code).toBe(0);
    expect(main.output).toMatch(/Usage: shylock <backend> \[source\] <mountpoint>/);
    const local = await runCli(['local', '--help']);
    expect(local.code).toBe(0);
    expect(local.output).toMatch(/Usage: shylock local \[<dir>\] <mountpoint>/);
    const etcd = await runCli(['etcd', '--help']);
    expect(etcd.output).toMatch(/--endpoints <urls>/);
  });
  it('usage errors print one line and exit 2', async () => {
    for (const args of [
      [],
      ['--bogus'],
      ['nosuch', '/mnt'],
      ['memory'],
      ['memory', '/a', '/b'],
      ['memory', '/tmp', '--api-port', 'x'],
      ['local', '/tmp'],
      ['memory', '/tmp', '--prefix', '/x'],
    ]) {
      const r = await runCli(args, { PATHQOS_DIR: '' });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.output.trim().split('\n'), r.output).toHaveLength(1);
      expect(r.output).toMatch(/^shylock: /);
    }
  });
  it('--check checks everything and mounts nothing; shylock docker has its help and its usage errors', async () => {
    const mnt = await tempDir('mnt');
    const ok = await runCli(['memory', mnt, '--check']);
    expect(ok).toEqual({ code: 0, output: `shylock: memory at ${mnt}: the arguments are fine (--check: nothing mounted)\n` });
    expect(await isMounted(mnt)).toBe(false);
    const bad = await runCli(['memory', mnt, '--check', '--qos', '/nonexistent/rules.csv']);
    expect(bad.code).toBe(2);
    const help = await runCli(['docker', '--help']);
    expect(help.code).toBe(0);
    expect(help.output).toMatch(/Usage: shylock docker \[--socket PATH \| --spec FILE\] \[--root DIR\]/);
    expect((await runCli(['--help'])).output).toMatch(/shylock docker +serve every backend as Docker volumes/);
    for (const [args, message] of [
      [['docker', '--bogus'], 'unknown option --bogus (see shylock docker --help)'],
      [['docker', 'extra'], 'shylock docker takes no arguments, got "extra" (see shylock docker --help)'],
      [['docker', '--socket', '/tmp/x'], '--socket /tmp/x: Docker finds a plugin by a socket named <driver>.sock (or give --spec)'],
      [['docker', '--spec', '/tmp/x.json'], '--spec /tmp/x.json: Docker finds a plugin by a file named <driver>.spec'],
    ] as const) {
      const r = await runCli([...args]);
      expect(r, args.join(' ')).toEqual({ code: 2, output: `shylock: ${message}\n` });
    }
  });
  it('a --qos-shared or QOS_SHARED that is not a Redis address exits 2 saying what to write', async () => {
    const mnt = await tempDir('mnt');
    const flag = await runCli(['memory', mnt, '--qos-shared', 'http://cache:6379']);
    expect(flag.code).toBe(2);
    expect(flag.output.trim()).toBe('shylock: --qos-shared must be redis://host:port (or host:port), got "http://cache:6379"');
    const env = await runCli(['memory', mnt], { QOS_SHARED: 'redis://' });
    expect(env.code).toBe(2);
    expect(env.output).toMatch(/QOS_SHARED must be redis:\/\/host:port/);
  });
  it('a missing mountpoint exits 2 with a clear message', async () => {
    const r = await runCli(['memory', '/nonexistent/shylock/mnt']);
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/does not exist/);
  });
  it('a malformed QoS file exits 2 naming its line and column', async () => {
    const dir = await tempDir('csv');
    const csv = join(dir, 'rules.csv');
    await writeFile(csv, '/ok,1,1\n/bad,1\n');
    const mnt = await tempDir('mnt');
    const r = await runCli(['memory', mnt, '--qos', csv]);
    expect(r.code).toBe(2);
    expect(r.output).toContain(`${csv}:2:7: expected at least 3 columns`);
    expect(await isMounted(mnt)).toBe(false);
  });
  it('warns once per QoS rule written for another mount, and keeps the rules that can match', async () => {
    const dir = await tempDir('csv');
    const mnt = await tempDir('mnt');
    const src = await tempDir('src');
    await mkdir(join(src, 'data'));
    const csv = join(dir, 'rules.csv');
    // Under the mountpoint; relative to it (not there yet); a directory the mount holds; a path of
    // this host outside the mount.
    await writeFile(csv, `${mnt}/a/,1,1\n/b/,1,1\n/data/x/,1,1\n${dir}/c/,1,1\n`);
    const r = await start(['local', src, mnt, '--qos', csv]);
    try {
      expect(r.stderr()).toMatch(/mounted local at .*, 4 QoS rules from/);
      const warnings = r
        .stderr()
        .split('\n')
        .filter((l) => l.includes('warning'));
      expect(warnings).toEqual([
        `shylock: warning: the QoS rule for ${dir}/c is outside the mountpoint ${mnt} and /${dir.split('/')[1]} is not in the mount: it matches nothing (a rule for this mount is written ${mnt}/… or /…)`,
      ]);
    } finally {
      r.child.kill('SIGTERM');
      expect(await r.exited).toBe(0);
    }
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} unmounts and exits 0`, async () => {
      const mnt = await tempDir('sig');
      const r = await start(['memory', mnt]);
      expect(await isMounted(mnt)).toBe(true);
      r.child.kill(signal);
      expect(await r.exited).toBe(0);
      expect(r.stderr()).toMatch(/unmounted/);
      expect(await isMounted(mnt)).toBe(false);
    });
  }
  it('a failure after the kernel mounted (the API port taken) unmounts and exits 1 with one line', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const mnt = await tempDir('mnt');
      const { code, output } = await runCli(['memory', mnt, '--api-port', String(port)]);
      expect(code).toBe(1);
      expect(output.trim().split('\n')).toHaveLength(1);
      expect(output).toMatch(new RegExp(String(port)));
      expect(await isMounted(mnt)).toBe(false);
    } finally {
      taken.close();
    }
  });
  it('local refuses a source that is missing, a file, the mountpoint, inside it or around it (exit 2, one line)', async () => {
    const outer = await tempDir('outer');
    const { mkdir: mkdirP } = await import('node:fs/promises');
    await mkdirP(join(outer, 'inner'));
    await writeFile(join(outer, 'file'), 'x');
    const cases: [string[], RegExp][] = [
      [[join(outer, 'missing'), join(outer, 'inner')], /does not exist/],
      [[join(outer, 'file'), join(outer, 'inner')], /is not a directory/],
      [[outer, outer], /can't be both the directory to serve and the mountpoint/],
      [[outer, join(outer, 'inner')], /mountpoint .* is inside the directory to serve/],
      [[join(outer, 'inner'), outer], /directory to serve .* is inside the mountpoint/],
    ];
    for (const [args, message] of cases) {
      const { code, output } = await runCli(['local', ...args]);
      expect(code, output).toBe(2);
      expect(output.trim().split('\n')).toHaveLength(1);
      expect(output).toMatch(message);
      expect(await isMounted(args[1]!)).toBe(false);
    }
  });
  it('shylock help is --help; a flag value starting with "-" says how to write it', async () => {
    const help = await runCli(['help']);
    expect(help.code).toBe(0);
    expect(help.output).toMatch(/Usage: shylock <backend>/);
    expect((await runCli(['help', 'redis'])).output).toMatch(/shylock redis — /);
    const mnt = await tempDir('mnt');
    const dash = await runCli(['memory', mnt, '--api-port', '-1']);
    expect(dash.code).toBe(2);
    expect(dash.output).toMatch(/--api-port got a value starting with "-": write it --api-port=<value>/);
  });
  it('with its stderr reader gone, SIGINT still unmounts and exits 0', async () => {
    const mnt = await tempDir('mnt');
    const child = spawn(process.execPath, [BIN, 'memory', mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stderr!.once('data', () => resolve()));
    // The reader goes away: every later write to stderr fails with EPIPE.
    child.stderr!.destroy();
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });
  it('a mount left by a killed process is recovered by the next start', async () => {
    const mnt = await tempDir('stale');
    const first = await start(['memory', mnt]);
    first.child.kill('SIGKILL');
    await first.exited;
    // The kernel still lists the mount, but nobody serves it.
    expect(await isMounted(mnt)).toBe(true);
    const second = await start(['memory', mnt]);
    expect(second.stderr()).toMatch(/mounted memory/);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });
  it('serves the REST API from HTTP_PORT and QOS_FILE, and SIGHUP re-reads the file', async () => {
    const dir = await tempDir('api');
    const csv = join(dir, 'rules.csv');
    await writeFile(csv, '/users/lhj,1000,0\n');
    const mnt = await tempDir('mnt');
    const r = await start(['memory', mnt], { QOS_FILE: csv, HTTP_PORT: '0' });
    try {
      const url = /QoS API on (http:\/\/[\d.]+:\d+)/.exec(r.stderr())![1]!;
      const list = async () => (await (await fetch(`${url}/key/`)).json()) as { key: string }[];
      expect((await list()).map((x) => x.key)).toEqual(['/users/lhj']);
      await writeFile(csv, `${mnt}/users/other,5,5\n`);
      r.child.kill('SIGHUP');
      await expect.poll(async () => (await list()).map((x) => x.key)).toEqual(['/users/other']);
      await writeFile(csv, 'broken,\n');
      r.child.kill('SIGHUP');
      await expect.poll(() => r.stderr()).toMatch(/kept the old rules/);
      expect((await list()).map((x) => x.key)).toEqual(['/users/other']);
    } finally {
      r.child.kill('SIGTERM');
      await r.exited;
    }
  });
  it('--no-native-io answers stat in JavaScript: nanoseconds shown only with native I/O', async () => {
    const src = await tempDir('src');
    await writeFile(join(src, 'f'), 'x');
    const { execFile } = await import('node:child_process');
    const sh = (cmd: string) =>
      new Promise<string>((resolve) => execFile('bash', ['-c', cmd], (_e, stdout, stderr) => resolve(stdout + stderr)));
    await sh(`touch -d '2021-03-04 05:06:07.123456789' ${src}/f`);
    const seen: string[] = [];
    for (const args of [[], ['--no-native-io']]) {
      const mnt = await tempDir('mnt');
      const r = await start(['local', src, mnt, ...args]);
      try {
        seen.push((await sh(`stat -c %y ${mnt}/f`)).trim());
      } finally {
        r.child.kill('SIGTERM');
        expect(await r.exited).toBe(0);
      }
    }
    expect(seen[0]).toContain('07.123456789');
    expect(seen[1]).toContain('07.123457000');
  });
  it('--verbose logs failed lookups of a local mount, though its getattr is answered natively', async () => {
    const src = await tempDir('src');
    const mnt = await tempDir('mnt');
    const r = await start(['local', src, mnt, '--verbose']);
    try {
      const { execFile } = await import('node:child_process');
      await new Promise((resolve) => execFile('bash', ['-c', `stat ${mnt}/nothing-here; cat ${mnt}/no/such/file`], resolve));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(r.stderr()).toMatch(/getattr \/nothing-here: ENOENT/);
      expect(r.stderr()).toMatch(/getattr \/no: ENOENT/);
    } finally {
      r.child.kill('SIGTERM');
      expect(await r.exited).toBe(0);
    }
  });
  it('local passes extended attributes through; --no-xattrs turns them off', async () => {
    const src = await tempDir('src');
    await writeFile(join(src, 'f'), 'x');
    const { execFile } = await import('node:child_process');
    const py = (dir: string) =>
      new Promise<string>((resolve) =>
        execFile(
          '/usr/bin/python3',
          [
            '-c',
            `import os, sys\ntry:\n os.setxattr(sys.argv[1], 'user.k', b'v'); print(os.getxattr(sys.argv[1], 'user.k').decode())\nexcept OSError as e: print(e.strerror)`,
            `${dir}/f`,
          ],
          (_e, stdout) => resolve(stdout.trim()),
        ),
      );
    const seen: string[] = [];
    for (const args of [[], ['--no-xattrs']]) {
      const mnt = await tempDir('mnt');
      const r = await start(['local', src, mnt, ...args]);
      try {
        seen.push(await py(mnt));
      } finally {
        r.child.kill('SIGTERM');
        expect(await r.exited).toBe(0);
      }
    }
    expect(seen).toEqual(['v', 'Operation not supported']);
  });
  it('an unmount from outside (fusermount -u) makes the command exit 0, leaving nothing behind', async () => {
    const src = await tempDir('src');
    const mnt = await tempDir('mnt');
    const r = await start(['local', src, mnt]);
    const { execFile } = await import('node:child_process');
    await new Promise((resolve) => execFile('fusermount', ['-u', mnt], resolve));
    const code = await Promise.race([r.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 5000))]);
    if (code === 'still running') r.child.kill('SIGKILL');
    expect(code).toBe(0);
    expect(r.stderr()).toMatch(/was unmounted from outside: exiting/);
  });
  it('compose mounts a tree of backends from a JSON file; mv between two of them copies; a bad tree exits 2 naming the entry', async () => {
    const src = await tempDir('src');
    await writeFile(join(src, 'hello.txt'), 'hi\n');
    const mnt = await tempDir('mnt');
    const conf = await tempDir('conf');
    const tree = join(conf, 'tree.json');
    await writeFile(tree, JSON.stringify({ '/files': { backend: 'local', source: src }, '/dc1/scratch': { backend: 'memory' } }));
    const r = await start(['compose', tree, mnt]);
    try {
      const { execFile } = await import('node:child_process');
      const sh = (cmd: string) =>
        new Promise<{ code: number; out: string }>((resolve) =>
          execFile('bash', ['-c', cmd], (e, stdout, stderr) => resolve({ code: e ? 1 : 0, out: stdout + stderr })),
        );
      expect(await sh(`ls -la ${mnt} >/dev/null && ls ${mnt} ${mnt}/dc1`)).toEqual({
        code: 0,
        out: `${mnt}:\ndc1\nfiles\n\n${mnt}/dc1:\nscratch\n`,
      });
      expect((await sh(`cat ${mnt}/files/hello.txt`)).out).toBe('hi\n');
      expect(await sh(`echo made > ${mnt}/dc1/scratch/m.txt && mv ${mnt}/dc1/scratch/m.txt ${mnt}/files/ && cat ${src}/m.txt`)).toEqual({
        code: 0,
        out: 'made\n',
      });
      expect((await sh(`ls ${mnt}/dc1/scratch`)).out).toBe('');
    } finally {
      r.child.kill('SIGTERM');
      expect(await r.exited).toBe(0);
    }
    for (const [text, message] of [
      ['{"/a": {"backend": "redis", "hots": "x"}}', `${tree}: /a: redis has no option "hots" (see shylock redis --help)`],
      ['{"/a": {"backend": "s3"}}', `${tree}: /a: s3 needs "source": <bucket[/prefix]>`],
      [
        '{"/a": {"backend": "compose"}}',
        `${tree}: /a: "backend" must be one of memory, local, etcd, redis, kafka, sqs, zookeeper, s3, gcs, gdrive`,
      ],
      ['{"/a": {"backend": "memory", "streams": true}}', `${tree}: /a: "streams" must be a string or a number`],
      ['[]', `${tree}: write an object of mount paths, e.g. {"/cache": {"backend": "redis", "host": "cache:6379"}}`],
      ['{"/a": ', expect.stringMatching(new RegExp(`^${tree}: not JSON \\(`))],
    ] as const) {
      await writeFile(tree, text);
      const bad = await runCli(['compose', tree, mnt]);
      expect(bad.code, text).toBe(2);
      expect(bad.output.trim().split('\n'), bad.output).toHaveLength(1);
      expect(bad.output.trim().replace(/^shylock: /, ''), text).toEqual(message);
    }
  });

  it('local serves $PATHQOS_DIR, and --read-only refuses writes', async () => {
    const src = await tempDir('src');
    await writeFile(join(src, 'hello.txt'), 'hi\n');
    const mnt = await tempDir('mnt');
    const r = await start(['local', mnt, '--read-only'], { PATHQOS_DIR: src });
    try {
      const { execFile } = await import('node:child_process');
      const sh = (cmd: string) =>
        new Promise<{ code: number; out: string }>((resolve) =>
          execFile('bash', ['-c', cmd], (e, stdout, stderr) => resolve({ code: e ? 1 : 0, out: stdout + stderr })),
        );
      expect((await sh(`cat ${mnt}/hello.txt`)).out).toBe('hi\n');
      const w = await sh(`echo x > ${mnt}/new.txt`);
      expect(w.out).toMatch(/Read-only file system/);
    } finally {
      r.child.kill('SIGTERM');
      expect(await r.exited).toBe(0);
    }
  });
});
