// @shylock/etcd benchmark, side by side in one run against a real etcd started here: reading
// 1,000 small keys through the mount vs etcd3 gets directly, beside what any FUSE file system
// costs for the same open+read+close (libfuse's C passthrough over the same files in memory);
// and how many range requests `ls -l` of a directory of 10,000 keys costs (etcd's own counter).
// Five rounds interleave the targets; every figure is the median of the rounds.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { mount } from '@shylock/fuse';
import { format as f, Rounds, startEtcd, startPassthrough } from '@shylock/test-servers';
import { etcdBackend } from '@shylock/etcd';

const run = promisify(execFile);
const SMALL = 1000;
const BIG = 10_000;
const ROUNDS = 5;
const server = await startEtcd();
const client = new Etcd3({ hosts: server.endpoint });
const mnt = await mkdtemp(join(tmpdir(), 'shylock-etcd-bench-'));
let m;
let shm;
let passthrough;
try {
  const value = Buffer.alloc(100, 'v');
  for (let i = 0; i < SMALL; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => client.put(`/small/k${i + j}`).value(value)));
  }
  for (let i = 0; i < BIG; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => client.put(`/big/k${i + j}`).value(value)));
  }
  m = await mount(etcdBackend({ endpoints: server.endpoint }), mnt, { attrTimeout: 1 } /* as shylock etcd mounts it */);
  // The same 1,000 files of 100 bytes in memory, through libfuse's C passthrough: the FUSE cost
  // alone, with no backend behind it.
  shm = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-etcd-bench-'));
  await mkdir(join(shm, 'small'));
  for (let i = 0; i < SMALL; i++) await writeFile(join(shm, 'small', `k${i}`), value);
  passthrough = await startPassthrough(shm);

  const readFiles = async (dir) => {
    const { stdout } = await run('python3', [
      '-c',
      `import os, sys, time
d = sys.argv[1]; n = int(sys.argv[2]); t = time.perf_counter()
for i in range(n):
    with open(os.path.join(d, 'k%d' % i), 'rb') as f: f.read()
print(n / (time.perf_counter() - t))`,
      dir,
      String(SMALL),
    ]);
    return Number(stdout);
  };
  const r = new Rounds();
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    for (let i = 0; i < SMALL; i++) await client.get(`/small/k${i}`).buffer();
    const direct = r.add('direct', SMALL / ((performance.now() - t0) / 1000));
    const mounted = r.add('mounted', await readFiles(join(mnt, 'small')));
    const c = r.add('c', await readFiles(passthrough.through(join(shm, 'small'))));
    r.add('ratio', mounted / direct);
    // A get, then the C passthrough's FUSE cost, nothing overlapped.
    const ceiling = r.add('ceiling', c / (direct + c));
    r.add('of ceiling', mounted / direct / ceiling);
  }

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

  console.log(`\n### etcd: small keys through the mount vs etcd3 directly (median of ${ROUNDS} interleaved rounds)\n`);
  console.log('| read 1,000 keys of 100 bytes | keys/s | vs etcd3 | rounds |');
  console.log('|---|---|---|---|');
  console.log(`| etcd3 \`get\`, sequential, in process | ${f(r.median('direct'))} | 1.00× | ${r.range('direct', 0)} keys/s |`);
  console.log(
    `| through the mount (attrTimeout 1 s, as the CLI mounts it): open+read+close in Python | ${f(r.median('mounted'))} | **${f(r.median('ratio'), 2)}×** (target ≥ 0.6×) | ${r.range('ratio')}× |`,
  );
  console.log(
    `| the same files in memory through libfuse's C passthrough (FUSE alone, no backend) | ${f(r.median('c'))} | | ${r.range('c', 0)} files/s |`,
  );
  console.log(
    `\nA get plus the C passthrough's cost for the same files, nothing overlapped: ${f(r.median('ceiling'), 2)}× of etcd3 ` +
      `(rounds ${r.range('ceiling')}×); the mount does ${f(r.median('of ceiling'), 2)}× that (${r.range('of ceiling')}×): its FUSE threads ` +
      'answer the open, read, flush and release from the value the lookup brought, where the C passthrough makes a system call for each.',
  );
  console.log(
    `\n\`ls -l\` of a directory of ${f(BIG)} keys: ${f(listed)} entries listed with ${f(used)} range requests (target: one listing request, not one per key)`,
  );
} finally {
  await passthrough?.stop();
  if (shm) await rm(shm, { recursive: true, force: true });
  await m?.unmount();
  client.close();
  await server.stop();
  await rm(mnt, { recursive: true, force: true });
}
