import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { afterAll, describe, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { startGcs, startOrSkip } from '@shylock/test-servers';
import { gcsBackend } from '../src/index.js';

// One real fake-gcs-server for this file; every test works under its own random directory.
const { server: gcs, skip } = await startOrSkip(startGcs);
const spoolDir = await mkdtemp(join(tmpdir(), 'shylock-gcs-spool-'));
afterAll(async () => {
  await gcs?.stop();
  await rm(spoolDir, { recursive: true, force: true });
});

if (gcs) {
  await new Storage({ apiEndpoint: gcs.endpoint, projectId: 'test' }).createBucket('conformance');
  const options = { endpoint: gcs.endpoint, projectId: 'test', spoolDir, partSize: 256 * 1024 };
  describeBackend('gcs', () => gcsBackend({ ...options, bucket: 'conformance' }));
  describeBackend('gcs (bucket/prefix, no listing cache)', () =>
    gcsBackend({ ...options, bucket: 'conformance/mounted/here', cacheTtlMs: 0 }),
  );
} else {
  describe('gcs conformance', () => {
    it.skip(`needs fake-gcs-server: ${skip}`, () => {});
  });
}
