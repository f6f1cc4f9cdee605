#!/usr/bin/env node
// The standalone QoS demo: per-user download limits on a plain Node HTTP server, changed live.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicy } from '@shylock/qos';
import { createFileServer } from './server.js';

const MiB = 1 << 20;

function download(port: number, path: string): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    request({ host: '127.0.0.1', port, path }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ bytes, seconds: (performance.now() - t0) / 1000 }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

const fmt = (n: number) => (n / MiB).toFixed(2).padStart(8);

async function round(port: number, title: string, users: [string, number | undefined][]) {
  console.log(`\n${title}`);
  console.log('  user      limit MiB/s   achieved MiB/s');
  const results = await Promise.all(users.map(([user]) => download(port, `/${user}/sample.bin`)));
  users.forEach(([user, limit], i) => {
    const { bytes, seconds } = results[i]!;
    const limitText = limit ? fmt(limit) : ' no rule';
    console.log(`  ${user.padEnd(8)}  ${limitText}      ${fmt(bytes / seconds)}`);
  });
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'shylock-demo-'));
  const policy = createPolicy([
    { path: '/users/alice', readBytesPerSec: 1 * MiB },
    { path: '/users/bob', readBytesPerSec: 2 * MiB },
  ]);
  const server = createFileServer({ root: dir, policy });
  try {
    await writeFile(join(dir, 'sample.bin'), Buffer.alloc(4 * MiB, 7));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    console.log(`shylock QoS demo: a 4 MiB file served on http://127.0.0.1:${port}/<user>/sample.bin`);
    console.log('rules: /users/alice reads 1 MiB/s, /users/bob 2 MiB/s, carol has none');
    await round(port, 'three users download at once:', [
      ['alice', 1 * MiB],
      ['bob', 2 * MiB],
      ['carol', undefined],
    ]);
    policy.update({ path: '/users/alice', readBytesPerSec: 4 * MiB });
    await round(port, 'after policy.update({ path: "/users/alice", readBytesPerSec: 4 MiB }):', [['alice', 4 * MiB]]);
    console.log('\ndone: each user got the rate of their rule (the first 128 KiB pass as a burst).');
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${(error as Error).message}`);
  process.exitCode = 1;
});
