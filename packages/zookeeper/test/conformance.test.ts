import { afterAll, describe, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { startOrSkip, startZooKeeper } from '@shylock/test-servers';
import { zookeeperBackend } from '../src/index.js';

// One real ZooKeeper server (Debian's zookeeper 3.8) for this file.
const { server: zk, skip } = await startOrSkip(startZooKeeper);
afterAll(() => zk?.stop());

if (zk) {
  describeBackend('zookeeper', () => zookeeperBackend({ connect: zk.endpoint }), {
    timeout: 20_000,
    // A znode holds less than 1 MiB (jute.maxbuffer): mount.test.ts checks EFBIG past the limit.
    exclude: { 'read of a 1 MiB file resolves all of it': "ZooKeeper's znodes hold less than 1 MiB (jute.maxbuffer)" },
  });
} else {
  describe('zookeeper conformance', () => {
    it.skip(`needs a real ZooKeeper server: ${skip}`, () => {});
  });
}
