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
  });
} else {
  describe('sqs conformance', () => {
    it.skip(`needs a real SQS server (ElasticMQ): ${skip}`, () => {});
  });
}
