import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { startDrive, startOrSkip } from '@shylock/test-servers';
import { gdriveBackend } from '../src/index.js';

// The Drive stand-in of @shylock/test-servers (no Drive emulator exists): every request is
// checked against the Drive v3 discovery document.
const { server: drive, skip } = await startOrSkip(startDrive);
const spoolDir = await mkdtemp(join(tmpdir(), 'shylock-gdrive-spool-'));
afterAll(async () => {
  await drive?.stop();
  await rm(spoolDir, { recursive: true, force: true });
});

if (drive) {
  describeBackend('gdrive', () =>
    gdriveBackend({ credentials: drive.keyFile, endpoint: drive.endpoint, spoolDir, partSize: 256 * 1024, refreshMs: 0 }),
  );
} else {
  describe('gdrive conformance', () => {
    it.skip(`needs the Drive stand-in: ${skip}`, () => {});
  });
}
