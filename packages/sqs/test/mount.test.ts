import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, type Mount } from '@shylock/fuse';
import { createPolicy } from '@shylock/qos';
import { startOrSkip, startSqs } from '@shylock/test-servers';
import { sqsBackend } from '../src/index.js';

const { server: sqs, skip } = await startOrSkip(startSqs);
afterAll(() => sqs?.stop());
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const MOUNTER = fileURLToPath(new URL('./fixtures/mount.mjs', import.meta.url));

const sh = (cmd: string, timeout = 20_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { maxBuffer: 64 << 20, timeout }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
let n = 0;
const queueName = (what: string) => `${what}-${process.pid}-${++n}`;
/** Python: writes a line, closes, and prints what close said (shells ignore close's errors). */
const CLOSE_REPORT = [
  'import errno, os, sys',
  'fd = os.open(sys.argv[1], os.O_WRONLY)',
  'print("wrote", os.write(fd, b"lost\\n"))',
  'try:',
  '    os.close(fd)',
  '    print("close: ok")',
  'except OSError as e:',
  '    print("close:", errno.errorcode[e.errno])',
].join('\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!sqs)(`SQS queues mounted and used from the shell${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let mnt: string;
  let m: Mount;
  let client: SQSClient;
  const urlOf = async (queue: string) => (await client.send(new GetQueueUrlCommand({ QueueName: queue }))).QueueUrl!;
  /** Receives (and deletes) until `count` messages came or `ms` passed. */
  const drain = async (queue: string, count: number, ms = 5000) => {
    const url = await urlOf(queue);
    const bodies: string[] = [];
    const until = Date.now() + ms;
    while (bodies.length < count && Date.now() < until) {
      const out = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      for (const msg of out.Messages ?? []) {
        bodies.push(msg.Body!);
        await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: msg.ReceiptHandle! }));
      }
    }
    return bodies;
  };
  const send = async (queue: string, bodies: string[], fifo = false) => {
    const url = await urlOf(queue);
    for (let i = 0; i < bodies.length; i += 10) {
      await client.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: bodies.slice(i, i + 10).map((b, j) => ({
            Id: String(j),
            MessageBody: b,
            ...(fifo ? { MessageGroupId: 'g', MessageDeduplicationId: `${i + j}` } : {}),
          })),
        }),
      );
    }
  };
  const attributes = async (queue: string) =>
    (await client.send(new GetQueueAttributesCommand({ QueueUrl: await urlOf(queue), AttributeNames: ['All'] }))).Attributes ?? {};

  beforeAll(async () => {
    client = new SQSClient({ endpoint: sqs!.endpoint, region: 'us-east-1', credentials });
    mnt = await mkdtemp(join(tmpdir(), 'shylock-sqs-mnt-'));
    m = await mount(sqsBackend({ endpoint: sqs!.endpoint, waitSeconds: 2, client: { credentials } }), mnt, { attrTimeout: 1 });
  });
  afterAll(async () => {
    await m?.unmount();
    await rm(mnt, { recursive: true, force: true });
    client?.destroy();
  });

  it('lines written with echo are messages the SDK receives; messages the SDK sent are lines head reads', async () => {
    const queue = queueName('cross');
    expect((await sh(`touch ${mnt}/${queue} && echo first > ${mnt}/${queue} && printf 'second\\nthird\\n' >> ${mnt}/${queue}`)).code).toBe(
      0,
    );
    expect((await drain(queue, 3)).sort()).toEqual(['first', 'second', 'third']);
    await send(queue, ['from the sdk', 'and more']);
    const r = await sh(`timeout 10 head -n 2 ${mnt}/${queue}`);
    expect(r.stdout.split('\n').slice(0, 2).sort()).toEqual(['and more', 'from the sdk']);
    // What head read is deleted: nothing is left for the SDK.
    expect(await drain(queue, 1, 3000)).toEqual([]);
  });

  it('ls lists the queues; .attributes/<queue> shows its counts; touch of a .fifo name makes a FIFO queue', async () => {
    const queue = queueName('listed');
    const fifo = `${queueName('ordered')}.fifo`;
    expect((await sh(`touch ${mnt}/${queue} ${mnt}/${fifo}`)).code).toBe(0);
    await send(queue, ['a', 'b', 'c']);
    const ls = (await sh(`ls -a ${mnt}`)).stdout.split('\n');
    expect(ls).toEqual(expect.arrayContaining(['.attributes', queue, fifo]));
    const text = (await sh(`cat ${mnt}/.attributes/${queue}`)).stdout;
    expect(text).toMatch(/^ApproximateNumberOfMessages=3$/m);
    expect((await sh(`cat ${mnt}/.attributes/${fifo}`)).stdout).toMatch(/^FifoQueue=true$/m);
    expect((await attributes(fifo)).FifoQueue).toBe('true');
    const write = await sh(`echo x > ${mnt}/.attributes/${queue}`);
    expect(write.stderr).toMatch(/Read-only file system/);
    expect((await sh(`mkdir ${mnt}/newdir`)).stderr).toMatch(/Operation not permitted/);
    expect((await sh(`touch ${mnt}/bad.name`)).stderr).toMatch(/Invalid argument/);
  });

  it('a FIFO queue keeps the order of 500 lines written through the mount and read back through it', async () => {
    const fifo = `${queueName('order')}.fifo`;
    expect((await sh(`seq 1 500 > ${mnt}/${fifo}`)).code).toBe(0);
    const r = await sh(`timeout 20 head -n 500 ${mnt}/${fifo}`, 30_000);
    expect(r.stdout).toBe(`${Array.from({ length: 500 }, (_, i) => i + 1).join('\n')}\n`);
  }, 40_000);

  it('two readers never get the same message while both live; together they get every one', async () => {
    const queue = queueName('split');
    await sh(`touch ${mnt}/${queue}`);
    const work = await mkdtemp(join(tmpdir(), 'shylock-sqs-work-'));
    try {
      const readers = [0, 1].map((i) => spawn('bash', ['-c', `exec cat ${mnt}/${queue} > ${work}/${i}`]));
      await sleep(500);
      await send(
        queue,
        Array.from({ length: 400 }, (_, i) => `m${i}`),
      );
      let got: string[][] = [];
      for (let t = 0; t < 100; t++) {
        got = await Promise.all([0, 1].map(async (i) => (await sh(`cat ${work}/${i}`)).stdout.split('\n').filter(Boolean)));
        if (got[0]!.length + got[1]!.length >= 400) break;
        await sleep(100);
      }
      for (const r of readers) r.kill('SIGTERM');
      await Promise.all(readers.map((r) => new Promise((res) => r.once('exit', res))));
      const [a, b] = got as [string[], string[]];
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
      expect(a.filter((x) => b.includes(x))).toEqual([]);
      expect([...a, ...b].sort()).toEqual(Array.from({ length: 400 }, (_, i) => `m${i}`).sort());
      await sleep(300);
      expect(Number((await attributes(queue)).ApproximateNumberOfMessages)).toBe(0);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }, 40_000);

  it('messages received and not read go back at close: a reader that read one line leaves the rest for the next', async () => {
    const queue = queueName('giveback');
    await sh(`touch ${mnt}/${queue}`);
    await send(queue, ['one', 'two', 'three', 'four']);
    // Reads one message at a time at first; head stops after the first line and closes.
    expect((await sh(`timeout 10 head -n 1 ${mnt}/${queue}`)).stdout).toMatch(/^(one|two|three|four)\n$/);
    expect((await drain(queue, 3)).length).toBe(3);
  });

  it('a mount killed while a reader holds a message it returned: the message comes back after the visibility timeout (at-least-once)', async () => {
    const queue = queueName('crash');
    await client.send(new CreateQueueCommand({ QueueName: queue, Attributes: { VisibilityTimeout: '2' } }));
    await send(queue, ['held']);
    const dir = await mkdtemp(join(tmpdir(), 'shylock-sqs-crash-'));
    const child = spawn(process.execPath, [MOUNTER, sqs!.endpoint, dir, JSON.stringify({ waitSeconds: 1 })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d) => String(d).includes('mounted') && resolve());
        child.once('exit', (code) => reject(new Error(`the mount exited ${code}`)));
      });
      // One read, then the reader waits: the message was returned, and the mount has not yet
      // heard that it was read (the next read or the close would say so).
      const reader = spawn(
        'python3',
        [
          '-c',
          'import os,sys,time; fd=os.open(sys.argv[1], os.O_RDONLY); sys.stdout.write(os.read(fd, 100).decode()); sys.stdout.flush(); time.sleep(30)',
          `${dir}/${queue}`,
        ],
        {
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      let out = '';
      reader.stdout.on('data', (d) => (out += d));
      for (let i = 0; i < 100 && out === ''; i++) await sleep(50);
      expect(out).toBe('held\n');
      child.kill('SIGKILL');
      reader.kill('SIGKILL');
      await sleep(2500);
      expect(await drain(queue, 1, 5000)).toEqual(['held']);
    } finally {
      child.kill('SIGKILL');
      await sh(`fusermount3 -uz ${dir}`);
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('a line over 256 KiB fails EFBIG naming the limit; a binary line fails EINVAL; nothing half-sent', async () => {
    const queue = queueName('limits');
    await sh(`touch ${mnt}/${queue}`);
    const big = await sh(`head -c 262145 /dev/zero | tr '\\0' x > ${mnt}/${queue}`);
    expect(big.stderr).toMatch(/File too large/);
    // One write of a text line and a binary one: refused whole.
    const binary = await sh(
      `python3 -c 'import os,sys; os.write(os.open(sys.argv[1], os.O_WRONLY), b"ok\\n\\x01\\x02\\n")' ${mnt}/${queue}`,
    );
    expect(binary.stderr).toMatch(/Invalid argument/);
    // Exactly 256 KiB is fine.
    expect((await sh(`head -c 262144 /dev/zero | tr '\\0' y > ${mnt}/${queue}`)).code).toBe(0);
    const bodies = await drain(queue, 2, 3000);
    expect(bodies.map((b) => `${b[0]}${b.length}`)).toEqual(['y262144']);
  });

  it('rm deletes a queue only with allowDelete; without, EPERM', async () => {
    const queue = queueName('rm');
    await sh(`touch ${mnt}/${queue}`);
    expect((await sh(`rm ${mnt}/${queue}`)).stderr).toMatch(/Operation not permitted/);
    const dir = await mkdtemp(join(tmpdir(), 'shylock-sqs-rm-'));
    const deleting = await mount(sqsBackend({ endpoint: sqs!.endpoint, allowDelete: true, client: { credentials } }), dir);
    try {
      expect((await sh(`rm ${dir}/${queue} && ls ${dir}`)).stdout).not.toContain(queue);
    } finally {
      await deleting.unmount();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a QoS rule of 10 write ops/s paces 30 appends', async () => {
    const queue = queueName('qos');
    const dir = await mkdtemp(join(tmpdir(), 'shylock-sqs-qos-'));
    const limited = await mount(sqsBackend({ endpoint: sqs!.endpoint, client: { credentials } }), dir, {
      qos: createPolicy([{ path: '/', writeOpsPerSec: 10 }]),
    });
    try {
      await sh(`touch ${dir}/${queue}`);
      const t0 = performance.now();
      expect((await sh(`for i in $(seq 1 30); do echo $i >> ${dir}/${queue}; done`)).code).toBe(0);
      const seconds = (performance.now() - t0) / 1000;
      // 30 writes (and the opens' ops) at 10/s after a burst of one: about 3 s or more.
      expect(seconds).toBeGreaterThan(2.5);
      expect(seconds).toBeLessThan(10);
      expect((await drain(queue, 30)).length).toBe(30);
    } finally {
      await limited.unmount();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('SQS stopped: a write fails at close with EIO instead of reporting success; back, it works again', async () => {
    const queue = queueName('outage');
    await sh(`touch ${mnt}/${queue}`);
    await sqs!.kill();
    try {
      const t0 = performance.now();
      // The write is taken (lines are sent in the background); close says whether they were stored.
      const r = await sh(`python3 -c '${CLOSE_REPORT}' ${mnt}/${queue}`, 60_000);
      expect(r.stdout).toMatch(/^wrote 5\nclose: (EIO|ETIMEDOUT)\n$/);
      expect(performance.now() - t0).toBeLessThan(30_000);
    } finally {
      await sqs!.restart();
    }
    // ElasticMQ keeps nothing over a restart: the queue is made again by creating its file.
    expect((await sh(`echo back > ${mnt}/${queue}`)).code).toBe(0);
    expect(await drain(queue, 1)).toEqual(['back']);
  }, 90_000);
});
