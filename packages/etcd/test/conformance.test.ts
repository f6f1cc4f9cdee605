import { afterAll, describe, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { startEtcd, startOrSkip } from '@shylock/test-servers';
import { etcdBackend } from '../src/index.js';

// One real etcd for this file; every test works under its own random directory.
const { server: etcd, skip } = await startOrSkip(startEtcd);
afterAll(() => etcd?.stop());

if (etcd) {
  describeBackend('etcd', () => etcdBackend({ endpoints: etcd.endpoint }));
  describeBackend('etcd (prefix /apps)', () => etcdBackend({ endpoints: etcd.endpoint, prefix: '/apps' }));
} else {
  describe('etcd conformance', () => {
    it.skip(`needs a real etcd: ${skip}`, () => {});
  });
}
