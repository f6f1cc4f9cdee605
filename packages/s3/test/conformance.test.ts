import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { startOrSkip, startS3 } from '@shylock/test-servers';
import { s3Backend } from '../src/index.js';

// One real S3 server (versitygw) for this file; every test works under its own random directory.
const { server: s3, skip } = await startOrSkip(startS3);
const spoolDir = await mkdtemp(join(tmpdir(), 'shylock-s3-spool-'));
afterAll(async () => {
  await s3?.stop();
  await rm(spoolDir, { recursive: true, force: true });
});

if (s3) {
  const options = {
    endpoint: s3.endpoint,
    region: s3.region,
    client: { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } },
    spoolDir,
  };
  describeBackend('s3', () => s3Backend({ ...options, bucket: s3.bucket }));
  describeBackend('s3 (bucket/prefix, no listing cache)', () =>
    s3Backend({ ...options, bucket: `${s3.bucket}/mounted/here`, cacheTtlMs: 0 }),
  );
} else {
  describe('s3 conformance', () => {
    it.skip(`needs a real S3 server: ${skip}`, () => {});
  });
}
