import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { mount } from '@shylock/fuse';
import { startRedis } from '@shylock/test-servers';
import { redisBackend } from '@shylock/redis';
const run = promisify(execFile);
const server = await startRedis();
const client = new Redis({ host: '127.0.0.1', port: server.port });
const mnt = await mkdtemp(join(tmpdir(), 'rprof-'));
const value = Buffer.alloc(1 << 20, 'v');
const N = 64;
for (let i = 0; i < N; i++) await client.set(`big/v${i}`, value);
const m = await mount(redisBackend({ host: server.endpoint }), mnt, { attrTimeout: 1 });
const stats = async () =>
  Object.fromEntries(
    (await client.info('commandstats'))
      .split('\n')
      .filter((l) => l.startsWith('cmdstat_'))
      .map((l) => [l.split(':')[0], Number(/calls=(\d+)/.exec(l)[1])]),
  );
const code = `import os, sys, time
d = sys.argv[1]; n = int(sys.argv[2])
for r in range(3):
  time.sleep(1.1)
  t = time.perf_counter(); o = 0; rd = 0; c = 0
  for i in range(n):
    a = time.perf_counter()
    f = os.open(os.path.join(d, 'v%d' % i), os.O_RDONLY)
    b = time.perf_counter()
    while os.read(f, 131072): pass
    cc = time.perf_counter()
    os.close(f)
    e = time.perf_counter()
    o += b - a; rd += cc - b; c += e - cc
  tot = time.perf_counter() - t
  print('files/s %.0f  open %.3f ms  read %.3f ms  close %.3f ms' % (n / tot, o / n * 1000, rd / n * 1000, c / n * 1000))`;
try {
  for (const cmd of [
    code,
    `import os, sys\nfor r in range(3):\n  for i in range(int(sys.argv[2])): os.stat(os.path.join(sys.argv[1], 'v%d' % i))`,
  ]) {
    const a = await stats();
    const { stdout } = await run('python3', ['-c', cmd, join(mnt, 'kv', 'big'), String(N)]);
    const b = await stats();
    console.log(
      stdout,
      JSON.stringify(
        Object.fromEntries(
          Object.entries(b)
            .map(([k, v]) => [k, v - (a[k] ?? 0)])
            .filter(([, v]) => v),
        ),
      ),
    );
  }
} finally {
  await m.unmount();
  client.disconnect();
  await server.stop();
  await rm(mnt, { recursive: true });
}
