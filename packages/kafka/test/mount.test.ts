import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, type Mount } from '@shylock/fuse';
import { createPolicy } from '@shylock/qos';
import { ensureDebian, startKafka, startOrSkip } from '@shylock/test-servers';
import { kafkaBackend } from '../src/index.js';

const { server: broker, skip } = await startOrSkip(startKafka);
if (broker) await ensureDebian(['kcat']);
afterAll(() => broker?.stop());

const sh = (cmd: string, timeout = 20_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { maxBuffer: 64 << 20, timeout }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
const client = () => new Kafka({ brokers: [broker!.endpoint], clientId: 'test', logLevel: logLevel.NOTHING });
let n = 0;
const topicName = (what: string) => `${what}-${process.pid}-${++n}`;

/** Every message of a topic, from the start, as kcat prints them (`-K` for key<TAB>value). */
const kcatAll = async (topic: string, args = '') => {
  const r = await sh(`kcat -b ${broker!.endpoint} -C -t ${topic} -o beginning -e -q ${args}`);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};

describe.skipIf(!broker)(`Kafka topics mounted and used from the shell${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let mnt: string;
  let m: Mount;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'shylock-kafka-mnt-'));
    m = await mount(kafkaBackend({ brokers: broker!.endpoint }), mnt, { attrTimeout: 1 });
  });
  afterAll(async () => {
    await m?.unmount();
    await rm(mnt, { recursive: true, force: true });
  });

  it('lines written with echo and cat are messages kcat reads; messages kcat produced are lines cat follows', async () => {
    const topic = topicName('cross');
    expect((await sh(`echo first > ${mnt}/${topic} && printf 'second\\nthird\\n' >> ${mnt}/${topic}`)).code).toBe(0);
    expect(await kcatAll(topic)).toBe('first\nsecond\nthird\n');
    expect((await sh(`printf 'from kcat\\nand more\\n' | kcat -b ${broker!.endpoint} -P -t ${topic}`)).code).toBe(0);
    // cat follows like tail -f: it prints what is there, then waits (ended here by timeout).
    const r = await sh(`timeout 4 cat ${mnt}/${topic}`);
    expect(r.code).toBe(124);
    expect(r.stdout).toBe('first\nsecond\nthird\nfrom kcat\nand more\n');
  });

  it('1 MiB writes of short lines go out in requests the broker takes, every line in order', async () => {
    const topic = topicName('big-writes');
    // 2.4 MB of 8-byte lines, written 1 MiB at a time: 300,000 messages, 131,072 in a write.
    const r = await sh(`seq 1000000 1299999 | dd of=${mnt}/${topic} bs=1M iflag=fullblock status=none`, 120_000);
    expect(r.code, r.stderr).toBe(0);
    const got = await sh(
      `kcat -b ${broker!.endpoint} -C -t ${topic} -o beginning -e -q | awk 'NR != $1 - 999999 { bad++ } END { print NR, bad + 0 }'`,
      120_000,
    );
    expect(got.stdout).toBe('300000 0\n');
  }, 180_000);

  it('a line appended while a reader follows reaches it within two seconds', async () => {
    const topic = topicName('follow');
    await sh(`touch ${mnt}/${topic}`);
    const reader = sh(`timeout 10 head -n 1 ${mnt}/${topic}`, 15_000);
    // The reader is waiting on the empty topic (its consumer fetching) before the line goes in.
    await new Promise((r) => setTimeout(r, 2000));
    const t0 = performance.now();
    await sh(`echo live >> ${mnt}/${topic}`);
    const out = await reader;
    const latency = performance.now() - t0;
    expect(out.stdout).toBe('live\n');
    expect(latency).toBeLessThan(2000);
  });

  it('touch creates a topic the brokers list; ls shows it; rm is refused without --allow-delete', async () => {
    const topic = topicName('made');
    expect((await sh(`touch ${mnt}/${topic} && ls ${mnt}`)).stdout.split('\n')).toContain(topic);
    const admin = client().admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).toContain(topic);
      const r = await sh(`rm ${mnt}/${topic}`);
      expect(r.stderr).toMatch(/Operation not permitted/);
      expect(await admin.listTopics()).toContain(topic);
      expect((await sh(`mkdir ${mnt}/${topic}-dir`)).stderr).toMatch(/Operation not permitted/);
      expect((await sh(`cat ${mnt}/no-such-topic-${process.pid}`)).stderr).toMatch(/No such file or directory/);
    } finally {
      await admin.disconnect();
    }
  });

  it('with --allow-delete, rm deletes the topic; topics deleted (here or elsewhere) leave writes to others working', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shylock-kafka-del-'));
    const d = await mount(kafkaBackend({ brokers: broker!.endpoint, allowDelete: true }), dir, { attrTimeout: 1 });
    const topic = topicName('gone');
    const admin = client().admin();
    await admin.connect();
    try {
      expect((await sh(`echo x > ${dir}/${topic} && cat ${dir}/.partitions/${topic}/0/end && rm ${dir}/${topic}`)).stdout).toBe('1\n');
      await expect.poll(async () => (await admin.listTopics()).includes(topic), { timeout: 10_000 }).toBe(false);
      // Topics deleted through the mount and by another client do not stop work on other topics.
      const other = topicName('other');
      const third = topicName('third');
      expect((await sh(`echo a > ${dir}/${other} && cat ${dir}/.partitions/${other}/0/end`)).stdout).toBe('1\n');
      await admin.deleteTopics({ topics: [other] });
      const r = await sh(`echo b > ${dir}/${third} && cat ${dir}/.partitions/${third}/0/end`);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('1\n');
      expect(await kcatAll(third)).toBe('b\n');
    } finally {
      await admin.disconnect();
      await d.unmount();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('QoS on a topic holds a write-bytes rate and a write-ops rate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shylock-kafka-qos-'));
    const bytesTopic = topicName('qos-bytes');
    const opsTopic = topicName('qos-ops');
    const policy = createPolicy([
      { path: `/${bytesTopic}`, writeBytesPerSec: 64 * 1024 },
      { path: `/${opsTopic}`, writeOpsPerSec: 5 },
    ]);
    const q = await mount(kafkaBackend({ brokers: broker!.endpoint }), dir, { qos: policy, attrTimeout: 1 });
    try {
      await sh(`touch ${dir}/${bytesTopic} ${dir}/${opsTopic}`);
      let t0 = performance.now();
      const big = await sh(
        `yes "$(head -c 1023 /dev/zero | tr '\\0' x)" | head -n 256 | dd of=${dir}/${bytesTopic} bs=8k iflag=fullblock status=none`,
      );
      expect(big.code, big.stderr).toBe(0);
      let seconds = (performance.now() - t0) / 1000;
      // (256 KiB − the 128 KiB burst) / 64 KiB/s = 2 s.
      expect(seconds).toBeGreaterThan(2 * 0.85);
      expect(seconds).toBeLessThan(2 * 1.6);
      expect((await kcatAll(bytesTopic)).split('\n').length - 1).toBe(256);
      t0 = performance.now();
      expect((await sh(`for i in $(seq 1 15); do echo $i >> ${dir}/${opsTopic}; done`)).code).toBe(0);
      seconds = (performance.now() - t0) / 1000;
      // 15 opens, writes and closes at 5 write ops/s after a burst of 1: about 3 s or more.
      expect(seconds).toBeGreaterThan(2.5);
      expect((await kcatAll(opsTopic)).split('\n').length - 1).toBe(15);
    } finally {
      await q.unmount();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the broker killed mid-produce: close fails EIO within seconds, and every line reported stored is in the log', async () => {
    const topic = topicName('faults');
    await sh(`touch ${mnt}/${topic}`);
    // A writer that fsyncs one line (stored), then, with the broker gone, writes another and closes.
    const script = `import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b'stored\\n'); os.fsync(fd)
print('synced', flush=True); sys.stdin.readline()
t = time.time()
def errno_of(fn):
    try:
        fn(); return 0
    except OSError as e:
        return e.errno
w = errno_of(lambda: os.write(fd, b'unsure\\n'))
c = errno_of(lambda: os.close(fd))
print(w, c, time.time() - t, flush=True)`;
    const child = spawn('python3', ['-c', script, `${mnt}/${topic}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await expect.poll(() => out, { timeout: 15_000 }).toMatch(/synced/);
      await broker!.kill();
      child.stdin.write('\n');
      await exited;
    } finally {
      await broker!.restart();
    }
    const [write, close, seconds] = out.trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number];
    // The write is taken (it goes out in the background) or already refused; close can't be 0.
    expect([0, 5]).toContain(write);
    expect(close).toBe(5);
    expect(seconds).toBeLessThan(20);
    // Work resumes without a remount; the line fsync reported stored is in the log.
    await expect
      .poll(async () => (await sh(`echo after >> ${mnt}/${topic} && echo ok`)).stdout, { timeout: 30_000, interval: 500 })
      .toBe('ok\n');
    const all = (await kcatAll(topic)).split('\n');
    expect(all[0]).toBe('stored');
    expect(all).toContain('after');
  }, 90_000);
});

describe.skipIf(!broker)('keys and partitions', () => {
  it('with keys on, key<TAB>value lines land on the partitions kafkajs picks for those keys, and read back as written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shylock-kafka-keys-'));
    const m = await mount(kafkaBackend({ brokers: broker!.endpoint, keys: true, partitions: 4 }), dir, { attrTimeout: 1 });
    const topic = topicName('keys');
    const lines = Array.from({ length: 40 }, (_, i) => `user-${i % 7}\tevent ${i}`);
    try {
      expect((await sh(`printf '%s\\n' ${lines.map((l) => `'${l}'`).join(' ')} > ${dir}/${topic}`)).code).toBe(0);
      // kcat: partition, key and value of each message.
      const got = (await kcatAll(topic, `-f '%p %k\\t%s\\n'`)).trim().split('\n');
      expect(got).toHaveLength(40);
      const partitioner = Partitioners.DefaultPartitioner();
      const meta = { topic, partitionMetadata: [0, 1, 2, 3].map((p) => ({ partitionId: p, leader: 1 })) };
      for (const row of got) {
        const [p, rest] = [Number(row.slice(0, row.indexOf(' '))), row.slice(row.indexOf(' ') + 1)];
        const key = rest.slice(0, rest.indexOf('\t'));
        expect(p).toBe(partitioner({ ...meta, message: { key, value: '' } } as never));
      }
      // Read back through the mount: every line as written (order kept within a key's partition).
      const back = (await sh(`timeout 4 cat ${dir}/${topic}`)).stdout.trim().split('\n');
      expect([...back].sort()).toEqual([...lines].sort());
      for (let u = 0; u < 7; u++) {
        const mine = (l: string) => l.startsWith(`user-${u}\t`);
        expect(back.filter(mine)).toEqual(lines.filter(mine));
      }
    } finally {
      await m.unmount();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!broker)('consumer groups and partitions', () => {
  let mnt: string;
  let m: Mount;
  const admin = () => client().admin();
  /** A topic of `partitions` partitions made with kafkajs, and `count` messages `<tag>-<i>` spread over them. */
  const seeded = async (what: string, partitions: number, count: number, tag = 'm') => {
    const topic = topicName(what);
    const a = admin();
    await a.connect();
    await a.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
    await a.disconnect();
    await produce(topic, count, tag);
    return topic;
  };
  const produce = async (topic: string, count: number, tag: string, from = 0) => {
    const p = client().producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await p.connect();
    await p.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: `${tag}-${from + i}` })) });
    await p.disconnect();
  };
  const lines = (text: string) => text.split('\n').filter((l) => l !== '');
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'shylock-kafka-groups-'));
    m = await mount(kafkaBackend({ brokers: broker!.endpoint }), mnt, { attrTimeout: 1 });
  });
  afterAll(async () => {
    await m?.unmount();
    await rm(mnt, { recursive: true, force: true });
  });

  it('two readers in one group split the partitions and together read every message exactly once', async () => {
    const topic = await seeded('split', 4, 2000, 'before');
    const group = `split-${process.pid}`;
    const work = await mkdtemp(join(tmpdir(), 'shylock-kafka-split-'));
    try {
      const reader = (out: string) => {
        const child = spawn('bash', ['-c', `exec cat ${mnt}/.groups/${group}/${topic} > ${work}/${out}`]);
        return { exited: new Promise((r) => child.on('exit', r)), stop: () => child.kill('SIGTERM') };
      };
      const count = async () => lines((await sh(`cat ${work}/a ${work}/b 2>/dev/null`)).stdout).length;
      const first = reader('a');
      let second: ReturnType<typeof reader> | undefined;
      try {
        await expect.poll(count, { timeout: 15_000 }).toBe(2000);
        // More messages come, spread over all partitions, 100 every 200 ms, while the second
        // member joins (a rebalance) and after: the first one is reading when it gives up two
        // partitions.
        const more = (async () => {
          for (let i = 0; i < 20; i++) {
            await produce(topic, 100, 'after', 2000 + i * 100);
            await new Promise((r) => setTimeout(r, 200));
          }
        })();
        await new Promise((r) => setTimeout(r, 500));
        second = reader('b');
        await more;
        await expect.poll(count, { timeout: 20_000, interval: 500 }).toBeGreaterThanOrEqual(4000);
        // A late duplicate would show within this second.
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        first.stop();
        second?.stop();
        await Promise.all([first.exited, second?.exited]);
      }
      const a = lines((await sh(`cat ${work}/a`)).stdout);
      const b = lines((await sh(`cat ${work}/b`)).stdout);
      // Each reader had a share of what came after the second one joined.
      expect(a.filter((l) => l.startsWith('after')).length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
      const all = [...a, ...b].sort();
      const expected = [
        ...Array.from({ length: 2000 }, (_, i) => `before-${i}`),
        ...Array.from({ length: 2000 }, (_, i) => `after-${2000 + i}`),
      ];
      expect(all).toHaveLength(4000);
      expect(new Set(all).size).toBe(4000);
      expect(all).toEqual(expected.sort());
      // And the group committed every partition to its end.
      const ad = admin();
      await ad.connect();
      try {
        const committed = (await ad.fetchOffsets({ groupId: group, topics: [topic] }))[0]!.partitions;
        const ends = await ad.fetchTopicOffsets(topic);
        for (const e of ends) expect(committed.find((c) => c.partition === e.partition)?.offset).toBe(e.high);
      } finally {
        await ad.disconnect();
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }, 90_000);

  it('a group reader resumes after what was read: after dd took two lines, after cat was killed, and from another mount', async () => {
    const topic = await seeded('resume', 1, 10, 'a');
    const at = `${mnt}/.groups/resume-${process.pid}/${topic}`;
    // Lines are a-0 … a-9, four bytes each: dd reads exactly two of them; the rest are given back.
    expect((await sh(`dd if=${at} bs=8 count=1 status=none`)).stdout).toBe('a-0\na-1\n');
    expect((await sh(`timeout 4 cat ${at}`)).stdout).toBe(['a-2', 'a-3', 'a-4', 'a-5', 'a-6', 'a-7', 'a-8', 'a-9', ''].join('\n'));
    // A reader killed with SIGKILL: what its reads returned counts as read.
    await produce(topic, 3, 'b');
    const work = await mkdtemp(join(tmpdir(), 'shylock-kafka-resume-'));
    try {
      const killed = spawn('bash', ['-c', `exec cat ${at} > ${work}/out`]);
      await expect.poll(async () => (await sh(`cat ${work}/out`)).stdout, { timeout: 15_000 }).toBe('b-0\nb-1\nb-2\n');
      killed.kill('SIGKILL');
      await new Promise((r) => killed.on('exit', r));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    await produce(topic, 2, 'c');
    // Another mount (another process could hold it) resumes from the group's commits on the broker.
    const dir = await mkdtemp(join(tmpdir(), 'shylock-kafka-resume2-'));
    const again = await mount(kafkaBackend({ brokers: broker!.endpoint }), dir, { attrTimeout: 1 });
    try {
      expect((await sh(`timeout 4 cat ${dir}/.groups/resume-${process.pid}/${topic}`)).stdout).toBe('c-0\nc-1\n');
      expect((await sh(`ls ${dir}/.groups`)).stdout.split('\n')).toContain(`resume-${process.pid}`);
    } finally {
      await again.unmount();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a group reader whose mount ends under it loses nothing: what it had not read is read from the next mount', async () => {
    const topic = await seeded('unmounted', 1, 10, 'a');
    const dir = await mkdtemp(join(tmpdir(), 'shylock-kafka-gone-'));
    const gone = await mount(kafkaBackend({ brokers: broker!.endpoint }), dir, { attrTimeout: 1 });
    const at = `.groups/gone-${process.pid}/${topic}`;
    // Reads two of the ten 4-byte lines, then holds the file open while the mount ends.
    const reader = spawn('python3', [
      '-c',
      `import os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\nsys.stdout.write(os.read(fd, 8).decode()); sys.stdout.flush()\ntime.sleep(30)`,
      `${dir}/${at}`,
    ]);
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await expect.poll(() => out, { timeout: 15_000 }).toBe('a-0\na-1\n');
      await gone.unmount();
    } finally {
      reader.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
    expect((await sh(`timeout 4 cat ${mnt}/${at}`)).stdout).toBe(['a-2', 'a-3', 'a-4', 'a-5', 'a-6', 'a-7', 'a-8', 'a-9', ''].join('\n'));
  }, 60_000);

  it('partitions are directories: start and end offsets, messages from the start or from an offset, writes into one partition', async () => {
    const topic = topicName('parts');
    const a = admin();
    await a.connect();
    await a.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3 }] });
    await a.disconnect();
    const p = client().producer();
    await p.connect();
    await p.send({ topic, messages: ['x', 'y', 'z'].map((value) => ({ value, partition: 0 })) });
    await p.send({ topic, messages: [{ value: 'w', partition: 1 }] });
    await p.disconnect();
    const at = `${mnt}/.partitions/${topic}`;
    expect((await sh(`ls ${at}`)).stdout).toBe('0\n1\n2\n');
    expect((await sh(`ls ${at}/0`)).stdout).toBe('end\nfrom\nmessages\nstart\n');
    expect((await sh(`cat ${at}/0/start ${at}/0/end ${at}/1/end ${at}/2/end`)).stdout).toBe('0\n3\n1\n0\n');
    expect((await sh(`timeout 3 cat ${at}/0/messages`)).stdout).toBe('x\ny\nz\n');
    expect((await sh(`timeout 3 cat ${at}/0/from/1`)).stdout).toBe('y\nz\n');
    expect((await sh(`timeout 3 cat ${at}/1/messages`)).stdout).toBe('w\n');
    // Written into partition 2 alone; the whole topic has it too.
    expect((await sh(`echo into-two >> ${at}/2/messages && cat ${at}/2/end`)).stdout).toBe('1\n');
    expect((await kcatAll(topic, '-p 2')).trim()).toBe('into-two');
    // What is not there, and what is read-only.
    expect((await sh(`cat ${at}/0/from/9`)).stderr).toMatch(/No such file or directory/);
    expect((await sh(`cat ${at}/7/end`)).stderr).toMatch(/No such file or directory/);
    expect((await sh(`echo 5 > ${at}/0/end`)).stderr).toMatch(/Read-only file system/);
    expect((await sh(`echo nope > ${at}/0/from/0`)).stderr).toMatch(/Read-only file system/);
    expect((await sh(`ls -a ${mnt}`)).stdout.split('\n')).toEqual(expect.arrayContaining(['.groups', '.partitions', topic]));
  }, 60_000);
});

describe.skipIf(!broker)('readers while the broker is away', () => {
  it('a follower and a group reader wait while the broker is down, then go on without a remount', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shylock-kafka-away-'));
    const m = await mount(kafkaBackend({ brokers: broker!.endpoint }), dir, { attrTimeout: 1 });
    const topic = topicName('away');
    const work = await mkdtemp(join(tmpdir(), 'shylock-kafka-away-out-'));
    await sh(`touch ${dir}/${topic}`);
    const readers = [`${dir}/${topic}`, `${dir}/.groups/away-${process.pid}/${topic}`].map((path, i) => {
      const child = spawn('bash', ['-c', `exec cat ${path} > ${work}/${i}`]);
      let code: number | null | undefined;
      const exited = new Promise<void>((r) => child.on('exit', (c) => r(void (code = c))));
      return { exited, stop: () => child.kill('SIGTERM'), code: () => code };
    });
    const outputs = async () => Promise.all([0, 1].map(async (i) => (await sh(`cat ${work}/${i}`)).stdout));
    try {
      await sh(`echo one >> ${dir}/${topic}`);
      await expect.poll(outputs, { timeout: 15_000 }).toEqual(['one\n', 'one\n']);
      await broker!.kill();
      await new Promise((r) => setTimeout(r, 4000));
      // Still waiting, not failed.
      expect(readers.map((r) => r.code())).toEqual([undefined, undefined]);
      await broker!.restart();
      await expect
        .poll(async () => (await sh(`echo two >> ${dir}/${topic} && echo ok`)).stdout, { timeout: 30_000, interval: 1000 })
        .toBe('ok\n');
      await expect.poll(outputs, { timeout: 40_000 }).toEqual(['one\ntwo\n', 'one\ntwo\n']);
    } finally {
      for (const r of readers) r.stop();
      await Promise.all(readers.map((r) => r.exited));
      await m.unmount();
      await rm(dir, { recursive: true, force: true });
      await rm(work, { recursive: true, force: true });
    }
  }, 120_000);
});
