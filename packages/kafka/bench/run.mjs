// Kafka topics through a mount vs kafkajs directly, against one real broker (KRaft).
//
// 100,000 messages of 1 KiB (KAFKA_BENCH_MESSAGES): produced with one `cat file > /mnt/topic`
// and with kafkajs `send` in batches of 1,000 (acks all, one request at a time, as the mount
// sends); consumed with `dd bs=128K` (as `cat` reads) through the mount (following, and as a group
// member), with `head -n` reading the mount itself, and with a kafkajs consumer counting them.
// Then the time from a line written (`cat > topic` fed a line on a pipe) to a follower's `cat`
// printing it, at p50 and p99, beside the same trip with kafkajs alone (send → eachMessage).
// Rounds interleave; each ratio is taken within its round.
import { spawn, execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { mount } from '@shylock/fuse';
import { kafkaBackend } from '@shylock/kafka';
import { format as f, Rounds, seconds, startKafka } from '@shylock/test-servers';

const run = promisify(execFile);
const COUNT = Number(process.env.KAFKA_BENCH_MESSAGES ?? 100_000);
const ROUNDS = Number(process.env.KAFKA_BENCH_ROUNDS ?? 5);
const LATENCY_SAMPLES = Number(process.env.KAFKA_BENCH_LATENCY ?? 200);
const BATCH = 1000;
const MIB = 1 << 20;

const broker = await startKafka();
const kafka = new Kafka({ brokers: [broker.endpoint], clientId: 'bench', logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const scratch = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-kafka-bench-'));
const mnt = await mkdtemp(join(tmpdir(), 'shylock-kafka-bench-mnt-'));
const m = await mount(kafkaBackend({ brokers: broker.endpoint }), mnt, { attrTimeout: 1 });

// Every message is 1,023 bytes and a newline: 1 KiB a line.
const value = (i) => `${String(i).padStart(8, '0')} ${'x'.repeat(1014)}`;
const source = join(scratch, 'lines');
await writeFile(source, Array.from({ length: COUNT }, (_, i) => `${value(i)}\n`).join(''));
const MIB_TOTAL = (COUNT * 1024) / MIB;
let topics = 0;
const newTopic = async () => {
  const topic = `bench-${++topics}`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
  return topic;
};

/** kafkajs sends COUNT messages in batches of BATCH, one request at a time. */
const sendDirect = async (topic) => {
  const producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    return await seconds(async () => {
      for (let i = 0; i < COUNT; i += BATCH) {
        const messages = Array.from({ length: Math.min(BATCH, COUNT - i) }, (_, j) => ({ value: value(i + j) }));
        await producer.send({ topic, acks: -1, messages });
      }
    });
  } finally {
    await producer.disconnect();
  }
};

/**
 * A kafkajs consumer from the earliest offset until it counted COUNT messages, timed from its
 * connect (a reader through the mount starts its consumer too).
 */
const consumeDirect = async (topic) => {
  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}`, maxWaitTimeInMs: 500 });
  try {
    return await seconds(async () => {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise((resolve, reject) => {
        let n = 0;
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              for (const message of batch.messages) n += message.value.length > 0 ? 1 : 0;
              if (n >= COUNT) resolve();
            },
          })
          .catch(reject);
      });
    });
  } finally {
    await consumer.disconnect();
  }
};

/** COUNT lines of a path in the mount read by `reader` (a shell pipeline), checked. */
const readThrough = (path, reader) =>
  seconds(async () => {
    const { stdout } = await run('bash', ['-c', `${reader.replace('PATH', path)} | wc -l`]);
    if (Number(stdout) !== COUNT) throw new Error(`read ${stdout.trim()} of ${COUNT} lines from ${path}`);
  });
/**
 * `dd` reads 128 KiB at a time, as `cat` does, and stops after COUNT lines of 1 KiB (a follower
 * never ends: `cat | head` would wait for a line that never comes).
 */
const CAT = `dd if=PATH bs=128K iflag=fullblock,count_bytes count=${COUNT * 1024} status=none`;
/** `head` reads the mount itself, 8 KiB at a time: a crossing into the mount per 8 KiB. */
const HEAD = `head -n ${COUNT} PATH`;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * LATENCY_SAMPLES round trips of `trip(line)` (ms each), one at a time, sorted; a first one
 * untimed (a follower's consumer has joined once it came through).
 */
const trips = async (trip) => {
  await trip('warm-up');
  const ms = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) ms.push(await trip(`line-${i}`));
  return ms.sort((a, b) => a - b);
};

/** ms from a line handed to a writer in the mount to a follower's cat printing it. */
const latencyThrough = async (topic) => {
  const reader = spawn('cat', [`${mnt}/${topic}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const writer = spawn('bash', ['-c', `exec cat > ${mnt}/${topic}`], { stdio: ['pipe', 'ignore', 'inherit'] });
  let waiting;
  let seen = '';
  reader.stdout.on('data', (d) => {
    seen += d.toString();
    if (waiting && seen.includes(`${waiting.line}\n`)) {
      seen = '';
      waiting.resolve(performance.now());
    }
  });
  const trip = (line) => {
    const arrived = new Promise((resolve) => (waiting = { line, resolve }));
    const t0 = performance.now();
    writer.stdin.write(`${line}\n`);
    return arrived.then((t) => t - t0);
  };
  try {
    return await trips(trip);
  } finally {
    writer.stdin.end();
    reader.kill('SIGTERM');
    await Promise.all([new Promise((r) => writer.on('exit', r)), new Promise((r) => reader.on('exit', r))]);
  }
};

/** The same trip with kafkajs alone: send (acks all) → a running consumer's eachMessage. */
const latencyDirect = async (topic) => {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}`, maxWaitTimeInMs: 500 });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic, fromBeginning: true });
  let waiting;
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (waiting && message.value.toString() === waiting.line) waiting.resolve(performance.now());
    },
  });
  const trip = async (line) => {
    const arrived = new Promise((resolve) => (waiting = { line, resolve }));
    const t0 = performance.now();
    await producer.send({ topic, acks: -1, messages: [{ value: line }] });
    return (await arrived) - t0;
  };
  try {
    return await trips(trip);
  } finally {
    await Promise.all([producer.disconnect(), consumer.disconnect()]);
  }
};

const r = new Rounds();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const direct = await newTopic();
    const through = await newTopic();
    // Which side goes first turns each round.
    const sides = [
      async () => r.add('produce direct', MIB_TOTAL / (await sendDirect(direct))),
      async () => r.add('produce mount', MIB_TOTAL / (await seconds(() => run('bash', ['-c', `cat ${source} > ${mnt}/${through}`])))),
    ];
    for (const side of round % 2 ? sides.reverse() : sides) await side();
    r.add('produce', r.all('produce mount').at(-1) / r.all('produce direct').at(-1));
    // Both read the topic the mount wrote: it holds every line, as written. One untimed read
    // first, so that no side pays for the broker's first read of the log.
    await consumeDirect(through);
    const reads = [
      async () => r.add('consume direct', MIB_TOTAL / (await consumeDirect(through))),
      async () => r.add('consume mount', MIB_TOTAL / (await readThrough(`${mnt}/${through}`, CAT))),
      async () => r.add('consume head', MIB_TOTAL / (await readThrough(`${mnt}/${through}`, HEAD))),
      async () => r.add('consume group', MIB_TOTAL / (await readThrough(`${mnt}/.groups/bench-${round}/${through}`, CAT))),
    ];
    for (const read of round % 2 ? reads.reverse() : reads) await read();
    r.add('consume', r.all('consume mount').at(-1) / r.all('consume direct').at(-1));
    r.add('consume as group', r.all('consume group').at(-1) / r.all('consume direct').at(-1));
    r.add('consume by head', r.all('consume head').at(-1) / r.all('consume direct').at(-1));
    await admin.deleteTopics({ topics: [direct, through] });
  }
  const latency = { mount: await latencyThrough(await newTopic()), direct: await latencyDirect(await newTopic()) };

  const row = (what, name) =>
    `| ${what} | ${f(r.median(`${name} direct`))} MiB/s | ${f(r.median(`${name} mount`))} MiB/s | **${f(r.median(name), 2)}×** (${r.range(name)}) |`;
  console.log(`\n### Kafka through a mount vs kafkajs directly, one broker (median of ${ROUNDS} interleaved rounds)\n`);
  console.log('| work | kafkajs | through the mount | ratio |');
  console.log('|---|---|---|---|');
  console.log(row(`produce ${f(COUNT)} × 1 KiB (cat file > topic vs send in batches of ${f(BATCH)}, acks all)`, 'produce'));
  const other = (what, name, ratio) =>
    `| ${what} | ${f(r.median('consume direct'))} MiB/s | ${f(r.median(name))} MiB/s | **${f(r.median(ratio), 2)}×** (${r.range(ratio)}) |`;
  console.log(row(`consume them (dd bs=128K of the topic vs a consumer counting, from connect)`, 'consume'));
  console.log(
    other(
      'consume as a group member (dd of .groups/<group>/<topic>, committing what each read takes)',
      'consume group',
      'consume as group',
    ),
  );
  console.log(other('consume with head -n reading the mount itself (8 KiB reads)', 'consume head', 'consume by head'));
  if (process.env.KAFKA_BENCH_ROUNDS_SHOWN)
    for (const n of ['consume direct', 'consume mount', 'consume group', 'consume head'])
      console.log(
        n,
        r
          .all(n)
          .map((x) => f(x))
          .join(' '),
      );
  console.log(
    `\nOne line from a writer to a follower (${LATENCY_SAMPLES} lines, one at a time): through the mount ` +
      `p50 ${f(percentile(latency.mount, 50), 1)} ms, p99 ${f(percentile(latency.mount, 99), 1)} ms; ` +
      `kafkajs alone (send, acks all → eachMessage) p50 ${f(percentile(latency.direct, 50), 1)} ms, p99 ${f(percentile(latency.direct, 99), 1)} ms. ` +
      'Targets: produce and consume ≥ 0.7× of kafkajs.',
  );
} finally {
  await m.unmount().catch(() => undefined);
  await admin.disconnect();
  await broker.stop();
  await rm(mnt, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
}
