import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDrive, startGcs, startKafka, startRedis, startS3, startSqs, startZooKeeper } from '@shylock/test-servers';

// The public packages as a user gets them: `pnpm pack` in the workspace, then `npm install` of
// the tarballs in a directory outside it, with only node and npm on PATH (no compiler, no pnpm,
// install scripts off), so the FUSE binding must come prebuilt inside the tarball.
const here = dirname(fileURLToPath(import.meta.url));
const workspace = join(here, '..', '..', '..');
const PUBLIC = [
  'core',
  'qos',
  'fuse',
  'memory',
  'local',
  'etcd',
  'redis',
  'objects',
  's3',
  'gcs',
  'kafka',
  'sqs',
  'zookeeper',
  'gdrive',
  'docker',
  'cli',
];

let app = '';
let tools = '';
const run = (file: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
  execFileSync(file, args, { cwd: app, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 200_000 });

beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), 'shylock-npm-'));
  // Removed after the tests, also when the install below fails.
  (globalThis as { cleanup?: () => void }).cleanup = () => rmSync(root, { recursive: true, force: true });
  app = join(root, 'app');
  tools = join(root, 'bin');
  mkdirSync(app);
  mkdirSync(tools);
  const packs = join(root, 'packs');
  for (const name of PUBLIC) {
    execFileSync('pnpm', ['pack', '--pack-destination', packs], { cwd: join(workspace, 'packages', name), stdio: 'ignore' });
  }
  // PATH for the install: node and npm only.
  const npmCli = join(dirname(realpathSync(process.execPath)), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  symlinkSync(process.execPath, join(tools, 'node'));
  writeFileSync(join(tools, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  cpSync(join(here, '..', 'programs'), app, { recursive: true });
  const tarballs = readdirSync(packs).map((f) => join(packs, f));
  run(join(tools, 'npm'), ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], {
    PATH: tools,
    HOME: process.env.HOME,
  });
}, 240_000);

afterAll(() => (globalThis as { cleanup?: () => void }).cleanup?.());

describe('the packed packages installed with plain npm', () => {
  it('the install step had no compiler and no pnpm on PATH', () => {
    for (const tool of ['cc', 'gcc', 'make', 'pnpm', 'python3']) expect(existsSync(join(tools, tool))).toBe(false);
    const found = run('/bin/sh', ['-c', 'command -v cc gcc make pnpm || true'], { PATH: tools });
    expect(found.trim()).toBe('');
  });

  it('@shylock/fuse ships its prebuilt binding', () => {
    const binding = join(app, 'node_modules', '@shylock', 'fuse', 'prebuilds', `linux-${process.arch}`, 'shylock-fuse.node');
    expect(existsSync(binding)).toBe(true);
  });

  it('mount() of @shylock/memory with a QoS rule writes and reads a file from a child process', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shylock-npm-mnt-'));
    try {
      expect(run(process.execPath, ['mount-memory.mjs', dir]).trim()).toBe('hello from npm');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a local mount keeps nanosecond times both ways', () => {
    const source = mkdtempSync(join(tmpdir(), 'shylock-npm-src-'));
    const dir = mkdtempSync(join(tmpdir(), 'shylock-npm-mnt-'));
    try {
      const out = JSON.parse(run(process.execPath, ['mount-local.mjs', source, dir]));
      expect(out.inside).toMatch(/^2001-02-03 04:05:06\.123456789/);
      expect(out.through).toMatch(/^2002-02-03 04:05:06\.987654321/);
      expect(out.read).toBe('data');
    } finally {
      rmSync(source, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('@shylock/qos runs alone and paces a limiter', () => {
    const { seconds } = JSON.parse(run(process.execPath, ['qos-alone.mjs']));
    expect(seconds).toBeGreaterThan(1.2);
    expect(seconds).toBeLessThan(2.5);
  });

  it('@shylock/qos shares a budget between limiters through a real Redis', async () => {
    const redis = await startRedis();
    try {
      const { seconds } = JSON.parse(run(process.execPath, ['qos-shared.mjs', redis.endpoint]));
      // 2 MiB at 1 MiB/s between them (each alone would pass in about 1 s).
      expect(seconds).toBeGreaterThan(1.6);
      expect(seconds).toBeLessThan(3);
    } finally {
      await redis.stop();
    }
  });

  it('@shylock/s3 mounts a bucket of a real S3 server; the object written is there for the SDK', async () => {
    const s3 = await startS3();
    const dir = mkdtempSync(join(tmpdir(), 'shylock-npm-mnt-'));
    try {
      const env = { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
      const out = JSON.parse(run(process.execPath, ['mount-s3.mjs', s3.endpoint, s3.bucket, dir], env));
      expect(out).toEqual({ read: 'hello from s3', keys: ['docs/', 'docs/hello.txt'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await s3.stop();
    }
  });

  it('@shylock/gcs mounts a bucket of a Cloud Storage emulator; the object written is there for the client', async () => {
    const gcs = await startGcs();
    const dir = mkdtempSync(join(tmpdir(), 'shylock-npm-mnt-'));
    try {
      const out = JSON.parse(run(process.execPath, ['mount-gcs.mjs', gcs.endpoint, 'app-bucket', dir]));
      expect(out).toEqual({ read: 'hello from gcs', keys: ['docs/', 'docs/hello.txt'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await gcs.stop();
    }
  });

  it('@shylock/kafka mounts the topics of a real broker; lines appended are followed back', async () => {
    const kafka = await startKafka();
    const dir = mkdtempSync(join(tmpdir(), 'shylock-npm-mnt-'));
    try {
      const out = JSON.parse(run(process.execPath, ['mount-kafka.mjs', kafka.endpoint, dir]));
      expect(out).toEqual({ read: 'hello from kafka\nand again\n', topics: ['greetings'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await kafka.stop();
    }
  });

  it('@shylock/sqs mounts the queues of an SQS server; lines sent are received back', async () => {
    const sqs = await startSqs();
    const dir = mkdtempSync(join(tmpdir(), 'shylock-npm-mnt-'));
    try {
      const out = JSON.parse(run(process.execPath, ['mount-sqs.mjs', sqs.endpoint, dir]));
      expect(out).toEqual({ read: ['and again', 'hello from sqs'], queues: ['greetings'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await sqs.stop();
    }
  });

  it('@shylock/zookeeper mounts a ZooKeeper server; a file written is read back', async () => {
    const zk = await startZooKeeper();
    const dir = mkdtempSync(join(tmpdir(), 'shylock-npm-mnt-'));
    try {
      const out = JSON.parse(run(process.execPath, ['mount-zookeeper.mjs', zk.endpoint, dir]));
      expect(out).toEqual({ read: 'hello from zookeeper\n', entries: ['greeting'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await zk.stop();
    }
  });

  it('@shylock/gdrive mounts the Drive stand-in with a service account key; a file written is read back', async () => {
    const drive = await startDrive();
    const dir = mkdtempSync(join(tmpdir(), 'shylock-npm-mnt-'));
    try {
      const out = JSON.parse(run(process.execPath, ['mount-gdrive.mjs', drive.endpoint, drive.keyFile, dir]));
      expect(out).toEqual({ read: 'hello from drive\n', entries: ['greeting'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await drive.stop();
    }
  });

  it('@shylock/docker serves a volume: created, mounted by the packed shylock command, written and read, removed', () => {
    const root = mkdtempSync(join(tmpdir(), 'shylock-npm-docker-'));
    try {
      const out = JSON.parse(run(process.execPath, ['docker-plugin.mjs', root]));
      expect(out).toEqual({ created: {}, read: 'hello from a volume\n', mounted: false, removed: {} });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('the shylock command prints its help', () => {
    const help = run(process.execPath, [join(app, 'node_modules', '.bin', 'shylock'), '--help']);
    expect(help).toMatch(/shylock <backend>/);
  });
});
