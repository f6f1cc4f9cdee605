import { afterAll, describe, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { startKafka, startOrSkip } from '@shylock/test-servers';
import { kafkaBackend } from '../src/index.js';

// One real Kafka broker (KRaft) for this file; every stream test uses a topic of its own.
const { server: kafka, skip } = await startOrSkip(startKafka);
afterAll(() => kafka?.stop());

if (kafka) {
  // Topics are streams at the root; every reader follows the whole topic (fan-out).
  describeBackend('kafka', () => kafkaBackend({ brokers: kafka.endpoint }), { streams: { dir: '/', fanout: true }, timeout: 20_000 });
} else {
  describe('kafka conformance', () => {
    it.skip(`needs a real Kafka broker: ${skip}`, () => {});
  });
}
