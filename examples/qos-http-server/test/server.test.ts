import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPolicy } from '@shylock/qos';
import { createFileServer } from '../src/server.js';

describe('qos-http-server example', () => {
  let dir: string;
  let server: Server;
  let base: string;
  const policy = createPolicy([{ path: '/users/slow', readBytesPerSec: 256 * 1024, burst: { bytes: 16 * 1024 } }]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qos-http-'));
    await writeFile(join(dir, 'f.bin'), Buffer.alloc(128 * 1024, 1));
    server = createFileServer({ root: dir, policy });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GET of a file sends all of it', async () => {
    const res = await fetch(`${base}/fast/f.bin`);
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(128 * 1024);
  });
  it('a user with a rule is paced to its rate', async () => {
    const t0 = performance.now();
    const res = await fetch(`${base}/slow/f.bin`);
    expect((await res.arrayBuffer()).byteLength).toBe(128 * 1024);
    // 112 KiB beyond the burst at 256 KiB/s take at least 437 ms.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(400);
    expect(policy.stats()[0]!.read.bytes).toBe(128 * 1024);
  });
  it('a missing file is 404 and a path climbing out is 400, both with a JSON error', async () => {
    const missing = await fetch(`${base}/u/nope.bin`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toHaveProperty('error');
    const outside = await fetch(`${base}/u/..%2F..%2F..%2Fetc%2Fpasswd`);
    expect(outside.status).toBe(400);
  });
});
