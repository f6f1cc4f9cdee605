import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { forward } from '@shylock/core';
import { mount } from '@shylock/fuse';
import { Rounds, startRedis } from '@shylock/test-servers';
import { redisBackend } from '@shylock/redis';
const run = promisify(execFile);
const server = await startRedis();
const client = new Redis({ host: '127.0.0.1', port: server.port });
const VALUES = 64;
const value = Buffer.alloc(Number(process.env.SIZE ?? 1 << 20), 'v');
for (let i = 0; i < VALUES; i++) await client.set(`big/v${i}`, value);
const a = await mkdtemp(join(tmpdir(), 'rab-')),
  b = await mkdtemp(join(tmpdir(), 'rab-'));
const ma = await mount(redisBackend({ host: server.endpoint }), a, { attrTimeout: 1 });
const inner = redisBackend({ host: server.endpoint });
const mb = await mount(forward(inner, { stat: (p) => inner.stat(p) }), b, { attrTimeout: 1 });
const code = `import os, sys, time
d = sys.argv[1]; n = int(sys.argv[2]); t = time.perf_counter()
for i in range(n):
    with open(os.path.join(d, 'v%d' % i), 'rb', buffering=0) as f:
        while f.read(131072): pass
print(n / (time.perf_counter() - t))`;
const r = new Rounds();
try {
  for (let k = 0; k < 9; k++) {
    await new Promise((res) => setTimeout(res, 1100));
    const t0 = performance.now();
    for (let i = 0; i < VALUES; i++) await client.getBuffer(`big/v${i}`);
    const get = r.add('get', VALUES / ((performance.now() - t0) / 1000));
    for (const [name, dir] of k % 2
      ? [
          ['hint', a],
          ['plain', b],
        ]
      : [
          ['plain', b],
          ['hint', a],
        ]) {
      const { stdout } = await run('python3', ['-c', code, join(dir, 'kv', 'big'), String(VALUES)]);
      r.add(name, Number(stdout) / get);
    }
  }
  console.log(
    'get',
    r.median('get').toFixed(0),
    'hint',
    r.median('hint').toFixed(3),
    r.range('hint'),
    'plain',
    r.median('plain').toFixed(3),
    r.range('plain'),
  );
} finally {
  await ma.unmount();
  await mb.unmount();
  await rm(a, { recursive: true });
  await rm(b, { recursive: true });
  client.disconnect();
  await server.stop();
}
