// SQS queues through a mount vs @aws-sdk/client-sqs directly, against one ElasticMQ server.
//
// 20,000 messages of 100 bytes (SQS_BENCH_MESSAGES): sent with one `cat file > /mnt/queue` and
// with SendMessageBatch of 10 from the SDK, four batches in flight (as the mount sends); received
// with `head -n` through the mount and with ReceiveMessage of 10 + DeleteMessageBatch from the
// SDK, one receive at a time with the deletes in the background (as the mount receives).
// Rounds interleave; each ratio is taken within its round.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mount } from '@shylock/fuse';
import { sqsBackend } from '@shylock/sqs';
import { format as f, Rounds, seconds, startSqs } from '@shylock/test-servers';

const run = promisify(execFile);
const COUNT = Number(process.env.SQS_BENCH_MESSAGES ?? 20_000);
const ROUNDS = Number(process.env.SQS_BENCH_ROUNDS ?? 3);
const IN_FLIGHT = 4;
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };

const server = await startSqs();
const client = new SQSClient({ endpoint: server.endpoint, region: 'us-east-1', credentials });
const scratch = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-sqs-bench-'));
const mnt = await mkdtemp(join(tmpdir(), 'shylock-sqs-bench-mnt-'));
const m = await mount(sqsBackend({ endpoint: server.endpoint, waitSeconds: 1, client: { credentials } }), mnt, { attrTimeout: 1 });

// Every message is 99 characters and a newline.
const body = (i) => `${String(i).padStart(8, '0')} ${'x'.repeat(90)}`;
const source = join(scratch, 'lines');
await writeFile(source, Array.from({ length: COUNT }, (_, i) => `${body(i)}\n`).join(''));
let queues = 0;
const newQueue = async () => {
  const name = `bench-${++queues}`;
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name }));
  return { name, url: QueueUrl };
};

/** The SDK sends COUNT messages in batches of 10, IN_FLIGHT batches at a time. */
const sendDirect = (url) =>
  seconds(async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < COUNT) {
          const from = next;
          next += 10;
          const Entries = [];
          for (let i = from; i < Math.min(from + 10, COUNT); i++) Entries.push({ Id: String(i - from), MessageBody: body(i) });
          const out = await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries }));
          if (out.Failed?.length) throw new Error(`${out.Failed.length} sends failed`);
        }
      }),
    );
  });

/** The SDK receives (10 at a time) and deletes COUNT messages; deletes run in the background. */
const receiveDirect = (url) =>
  seconds(async () => {
    let n = 0;
    const deletes = [];
    while (n < COUNT) {
      const out = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      const messages = out.Messages ?? [];
      n += messages.length;
      if (messages.length > 0) {
        deletes.push(
          client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: messages.map((msg, i) => ({ Id: String(i), ReceiptHandle: msg.ReceiptHandle })),
            }),
          ),
        );
      }
    }
    await Promise.all(deletes);
  });

const sendThrough = (name) => seconds(() => run('bash', ['-c', `cat ${source} > ${mnt}/${name}`]));
const receiveThrough = (name) =>
  seconds(async () => {
    const { stdout } = await run('bash', ['-c', `head -n ${COUNT} ${mnt}/${name} | wc -l`], { maxBuffer: 1 << 20 });
    if (Number(stdout) !== COUNT) throw new Error(`read ${stdout.trim()} of ${COUNT} lines`);
  });

const r = new Rounds();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const direct = await newQueue();
    const through = await newQueue();
    const sends = [
      async () => r.add('send direct', COUNT / (await sendDirect(direct.url))),
      async () => r.add('send mount', COUNT / (await sendThrough(through.name))),
    ];
    for (const side of round % 2 ? sends.reverse() : sends) await side();
    r.add('send', r.all('send mount').at(-1) / r.all('send direct').at(-1));
    const receives = [
      async () => r.add('receive direct', COUNT / (await receiveDirect(direct.url))),
      async () => r.add('receive mount', COUNT / (await receiveThrough(through.name))),
    ];
    for (const side of round % 2 ? receives.reverse() : receives) await side();
    r.add('receive', r.all('receive mount').at(-1) / r.all('receive direct').at(-1));
    console.error(
      `round ${round + 1}: send ${f(r.all('send mount').at(-1), 0)} vs ${f(r.all('send direct').at(-1), 0)} msg/s, ` +
        `receive ${f(r.all('receive mount').at(-1), 0)} vs ${f(r.all('receive direct').at(-1), 0)} msg/s`,
    );
  }
  console.log(
    `\n### SQS through a mount vs the SDK directly (ElasticMQ, ${COUNT.toLocaleString('en-US')} messages of 100 B, ${ROUNDS} rounds)\n`,
  );
  console.log('| | mount msg/s (median) | SDK msg/s (median) | ratio per round | target |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| send (\`cat file > queue\` vs SendMessageBatch ×${IN_FLIGHT}) | ${f(r.median('send mount'), 0)} | ${f(r.median('send direct'), 0)} | ${r.range('send')}× | ≥ 0.5× |`,
  );
  console.log(
    `| receive (\`head -n\` vs ReceiveMessage + DeleteMessageBatch) | ${f(r.median('receive mount'), 0)} | ${f(r.median('receive direct'), 0)} | ${r.range('receive')}× | ≥ 0.5× |`,
  );
} finally {
  await m.unmount();
  client.destroy();
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
  await rm(mnt, { recursive: true, force: true });
}
