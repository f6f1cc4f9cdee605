import { afterAll, describe, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { startOrSkip, startRedis } from '@shylock/test-servers';
import { redisBackend } from '../src/index.js';

// One real Redis for this file; every test works under its own random directory or name.
const { server: redis, skip } = await startOrSkip(startRedis);
afterAll(() => redis?.stop());

const streams = [
  { dir: '/pubsub', fanout: true },
  { dir: '/streams', fanout: true },
  { dir: '/queues', fanout: false },
];

if (redis) {
  describeBackend('redis', () => redisBackend({ host: redis.endpoint }), { base: '/kv', streams });
  describeBackend('redis (prefix app:)', () => redisBackend({ host: redis.endpoint, prefix: 'app:' }), { base: '/kv', streams });
} else {
  describe('redis conformance', () => {
    it.skip(`needs a real Redis: ${skip}`, () => {});
  });
}
