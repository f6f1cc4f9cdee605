import { afterAll, describe, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { startOrSkip, startSqs } from '@shylock/test-servers';
import { sqsBackend } from '../src/index.js';

// One real ElasticMQ server for this file (it speaks SQS's protocol); any credentials do.
const { server: sqs, skip } = await startOrSkip(startSqs);
afterAll(() => sqs?.stop());
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

if (sqs) {
  // Queues are streams at the root, each message going to one reader.
  describeBackend('sqs', () => sqsBackend({ endpoint: sqs.endpoint, waitSeconds: 1, client: { credentials } }), {
    streams: { dir: '/', fanout: false },
    timeout: 20_000,
    // Standard queues deliver in about the order sent, not exactly (SQS promises none; ElasticMQ
    // mixes the lines of one batch). FIFO queues keep it: mount.test.ts reads 500 back in order.
    exclude: { 'several lines in one write arrive as messages in order': 'standard SQS queues do not keep order; FIFO queues do' },
  });
} else {
  describe('sqs conformance', () => {
    it.skip(`needs a real SQS server (ElasticMQ): ${skip}`, () => {});
  });
}
