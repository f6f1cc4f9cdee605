import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { mount } from '@shylock/fuse';
import { kafkaBackend } from '@shylock/kafka';
import { startKafka } from '@shylock/test-servers';
const run = promisify(execFile);
const broker = await startKafka();
const kafka = new Kafka({ brokers: [broker.endpoint], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ waitForLeaders: true, topics: [{ topic: 'p' }] });
const prod = kafka.producer();
await prod.connect();
const v = (i) => `${String(i).padStart(8, '0')} ${'x'.repeat(1014)}`;
for (let i = 0; i < 100000; i += 1000)
  await prod.send({ topic: 'p', messages: Array.from({ length: 1000 }, (_, j) => ({ value: v(i + j) })) });
await prod.disconnect();
await admin.disconnect();
const m = await mount(kafkaBackend({ brokers: broker.endpoint }), '/tmp/kexp', { attrTimeout: 1 });
try {
  for (let i = 0; i < 3; i++)
    for (const bs of ['128K', '1M', '4M']) {
      const t0 = performance.now();
      await run('bash', ['-c', `dd if=/tmp/kexp/p bs=${bs} iflag=fullblock,count_bytes count=${100000 * 1024} status=none of=/dev/null`]);
      console.log(bs, ((performance.now() - t0) / 1000).toFixed(3), 's');
    }
} finally {
  await m.unmount();
  await broker.stop();
}
