import { existsSync, readFileSync } from 'node:fs';
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Storage } from '@google-cloud/storage';
import { Kafka, logLevel } from 'kafkajs';
import zookeeper from 'node-zookeeper-client';
import { describe, expect, it } from 'vitest';
import { startDocker, startGcs, startKafka, startS3, startSqs, startZooKeeper, type TestServer } from '../src/index.js';

// One smoke test per starter, through the client library the backend will use; two servers of a
// kind side by side; nothing left behind after stop. In CI a server that can't start fails here.

/** Sockets listening on 127.0.0.1:port, from /proc/net/tcp and tcp6 (state 0A; Java's are IPv4-mapped). */
function listeners(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6']
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n')
    .split('\n')
    .filter((l) => l.includes(`0100007F:${hex} `) && / 0A /.test(l)).length;
}

/** Stops a server and checks that nothing listens on its port any more. */
async function stoppedClean(server: TestServer): Promise<void> {
  const port = server.port;
  expect(listeners(port)).toBe(1);
  expect(existsSync(server.dir)).toBe(true);
  await server.stop();
  expect(listeners(port)).toBe(0);
  expect(existsSync(server.dir)).toBe(false);
}

describe('startKafka', () => {
  it('produces and consumes a message through kafkajs; two brokers do not collide', async () => {
    const [a, b] = await Promise.all([startKafka(), startKafka()]);
    try {
      expect(a.port).not.toBe(b.port);
      const kafka = new Kafka({ brokers: [a.endpoint], clientId: 'smoke', logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'smoke', numPartitions: 1 }] });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'smoke', messages: [{ value: 'hello kafka' }] });
      await producer.disconnect();
      const consumer = kafka.consumer({ groupId: 'smoke' });
      await consumer.connect();
      await consumer.subscribe({ topic: 'smoke', fromBeginning: true });
      const got = await new Promise<string>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) });
      });
      await consumer.disconnect();
      expect(got).toBe('hello kafka');
    } finally {
      await stoppedClean(a);
      await stoppedClean(b);
    }
  }, 120_000);
});

describe('startS3', () => {
  it('puts, lists and gets with a ranged GET through @aws-sdk/client-s3', async () => {
    const s3 = await startS3();
    try {
      const client = new S3Client({
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      });
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'dir/hello.txt', Body: 'hello s3, ranged' }));
      const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'dir/' }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual(['dir/hello.txt']);
      const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'dir/hello.txt', Range: 'bytes=6-7' }));
      expect(await got.Body!.transformToString()).toBe('s3');
      client.destroy();
    } finally {
      await stoppedClean(s3);
    }
  }, 600_000);
});

describe('startGcs', () => {
  it('uploads, lists and downloads through @google-cloud/storage', async () => {
    const gcs = await startGcs();
    try {
      const storage = new Storage({ apiEndpoint: gcs.endpoint, projectId: 'test' });
      const [bucket] = await storage.createBucket('smoke');
      await bucket.file('a/b.txt').save('hello gcs', { resumable: false });
      const [files] = await bucket.getFiles({ prefix: 'a/' });
      expect(files.map((f) => f.name)).toEqual(['a/b.txt']);
      const [contents] = await bucket.file('a/b.txt').download();
      expect(contents.toString()).toBe('hello gcs');
    } finally {
      await stoppedClean(gcs);
    }
  }, 600_000);
});

describe('startSqs', () => {
  it('sends, receives and deletes through @aws-sdk/client-sqs', async () => {
    const sqs = await startSqs();
    try {
      const client = new SQSClient({
        endpoint: sqs.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      });
      const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'smoke' }));
      await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello sqs' }));
      const { Messages } = await client.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
      expect(Messages?.map((m) => m.Body)).toEqual(['hello sqs']);
      await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: Messages![0]!.ReceiptHandle }));
      client.destroy();
    } finally {
      await stoppedClean(sqs);
    }
  }, 120_000);
});

describe('startZooKeeper', () => {
  it('creates and reads a znode through node-zookeeper-client', async () => {
    const zk = await startZooKeeper();
    try {
      const client = zookeeper.createClient(zk.endpoint, { sessionTimeout: 5000 });
      await new Promise<void>((resolve) => {
        client.once('connected', () => resolve());
        client.connect();
      });
      await new Promise<void>((resolve, reject) => client.create('/smoke', Buffer.from('hello zk'), (e) => (e ? reject(e) : resolve())));
      const data = await new Promise<Buffer>((resolve, reject) => client.getData('/smoke', (e, d) => (e ? reject(e) : resolve(d))));
      client.close();
      expect(data.toString()).toBe('hello zk');
    } finally {
      await stoppedClean(zk);
    }
  }, 120_000);
});

describe('startDocker', () => {
  it('runs a container from the local busybox image with a volume', async () => {
    const d = await startDocker();
    try {
      await d.docker(['volume', 'create', 'smoke']);
      const out = await d.docker([
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        'smoke:/data',
        d.image,
        'sh',
        '-c',
        'echo hello docker > /data/f && cat /data/f',
      ]);
      expect(out.trim()).toBe('hello docker');
    } finally {
      const dir = d.dir;
      await d.stop();
      expect(existsSync(dir)).toBe(false);
    }
  }, 300_000);
});

describe('servers side by side', () => {
  it('two servers of each kind started at once get their own port and directory', async () => {
    for (const start of [startS3, startGcs, startZooKeeper, startSqs]) {
      const pair = await Promise.all([start(), start()]);
      try {
        expect(pair[0].port).not.toBe(pair[1].port);
        expect(pair[0].dir).not.toBe(pair[1].dir);
        expect(pair[0].endpoint).not.toBe(pair[1].endpoint);
      } finally {
        for (const s of pair) await stoppedClean(s);
      }
    }
  }, 300_000);
});
