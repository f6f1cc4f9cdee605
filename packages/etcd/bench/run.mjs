// @shylock/etcd benchmark, side by side in one run against a real etcd started here:
// reading 1,000 small keys through the mount vs etcd3 gets directly, and how many range
// requests `ls -l` of a directory of 10,000 keys costs (etcd's own request counter).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { mount } from '@shylock/fuse';
import { startEtcd } from '@shylock/test-servers';
import { etcdBackend } from '@shylock/etcd';

const run = promisify(execFile);
const SMALL = 1000;
const BIG = 10_000;
const server = await startEtcd();
const client = new Etcd3({ hosts: server.endpoint });
const mnt = await mkdtemp(join(tmpdir(), 'shylock-etcd-bench-'));
let m;
try {
  const value = Buffer.alloc(100, 'v');
  for (let i = 0; i < SMALL; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => client.put(`/small/k${i + j}`).value(value)));
  }
  for (let i = 0; i < BIG; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => client.put(`/big/k${i + j}`).value(value)));
  }
  m = await mount(etcdBackend({ endpoints: server.endpoint }), mnt, { attrTimeout: 1 } /* as shylock etcd mounts it */);

  const best = async (fn) => {
    let top = 0;
    for (let r = 0; r < 3; r++) top = Math.max(top, await fn());
    return top;
  };
  const direct = await best(async () => {
    const t0 = performance.now();
    for (let i = 0; i < SMALL; i++) await client.get(`/small/k${i}`).buffer();
    return SMALL / ((performance.now() - t0) / 1000);
  });
  const mounted = await best(async () => {
    const { stdout } = await run('python3', [
      '-c',
      `import os, sys, time
d = sys.argv[1]; n = int(sys.argv[2]); t = time.perf_counter()
for i in range(n):
    with open(os.path.join(d, 'k%d' % i), 'rb') as f: f.read()
print(n / (time.perf_counter() - t))`,
      join(mnt, 'small'),
      String(SMALL),
    ]);
    return Number(stdout);
  });

  const ranges = async () => {
    const text = await (await fetch(`${server.endpoint}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('grpc_server_handled_total') && l.includes('grpc_method="Range"'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };
  const before = await ranges();
  const { stdout: listing } = await run('ls', ['-l', join(mnt, 'big')], { maxBuffer: 64 << 20 });
  const used = (await ranges()) - before;
  const listed = listing.trim().split('\n').length - 1;

  const f = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log('\n### etcd: small keys through the mount (attrTimeout 1 s, as the CLI mounts it) vs etcd3 directly (best of 3)\n');
  console.log('| read 1,000 keys of 100 bytes | keys/s | ratio |');
  console.log('|---|---|---|');
  console.log(`| etcd3 \`get\`, sequential, in process | ${f(direct)} | 1.00× |`);
  console.log(`| through the mount: open+read+close in Python | ${f(mounted)} | ${f(mounted / direct, 2)}× (target ≥ 0.5×) |`);
  console.log(
    `\n\`ls -l\` of a directory of ${f(BIG)} keys: ${f(listed)} entries listed with ${f(used)} range requests (target: one listing request, not one per key)`,
  );
} finally {
  await m?.unmount();
  client.close();
  await server.stop();
  await rm(mnt, { recursive: true, force: true });
}
