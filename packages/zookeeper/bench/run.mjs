// ZooKeeper through a mount vs node-zookeeper-client directly, against one ZooKeeper server.
//
// - Read 1,000 znodes of 100 bytes (ZK_BENCH_NODES) by name, open+read+close in Python, through
//   a fresh mount (nothing cached: a lookup and a read per znode) vs getData one after another
//   from the client; then again on the same mount (cached, kept fresh by watches). Beside them,
//   what FUSE alone costs: the same files in memory through libfuse's C passthrough.
// - List a znode with 10,000 children (ZK_BENCH_CHILDREN): `ls` through a fresh mount vs one
//   getChildren from the client, and vs getChildren plus a getData per child (what a listing
//   that tells files from directories needs; `ls -l` through the mount).
// One uncounted pass of each side warms both up; rounds interleave; each ratio is taken within
// its round.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import zookeeper from 'node-zookeeper-client';
import { mount } from '@shylock/fuse';
import { zookeeperBackend } from '@shylock/zookeeper';
import { format as f, Rounds, seconds, startPassthrough, startZooKeeper } from '@shylock/test-servers';

const run = promisify(execFile);
const NODES = Number(process.env.ZK_BENCH_NODES ?? 1000);
const CHILDREN = Number(process.env.ZK_BENCH_CHILDREN ?? 10_000);
const ROUNDS = Number(process.env.ZK_BENCH_ROUNDS ?? 5);

const server = await startZooKeeper();
const client = zookeeper.createClient(server.endpoint, { sessionTimeout: 10_000 });
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no connection to ZooKeeper at ${server.endpoint}`)), 15_000);
  client.once('connected', () => {
    clearTimeout(timer);
    resolve();
  });
  client.connect();
});
const zk = (method, ...args) =>
  new Promise((resolve, reject) => client[method](...args, (error, ...out) => (error ? reject(error) : resolve(out))));

const scratch = await mkdtemp(join(tmpdir(), 'shylock-zk-bench-'));
const mnt = await mkdtemp(join(tmpdir(), 'shylock-zk-bench-mnt-'));
const names = Array.from({ length: NODES }, (_, i) => `n${String(i).padStart(5, '0')}`);
const data = Buffer.from(`${'x'.repeat(99)}\n`);

/** Creates `count` znodes under `dir`, 200 requests in flight. */
async function fill(dir, list, value) {
  await zk('create', dir);
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < list.length) await zk('create', `${dir}/${list[next++]}`, value);
    }),
  );
}
await fill('/small', names, data);
await fill(
  '/wide',
  Array.from({ length: CHILDREN }, (_, i) => `c${i}`),
  Buffer.from('v'),
);
// The same files in memory, through libfuse's C passthrough: FUSE's cost with no backend.
const shm = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'shylock-zk-bench-'));
await mkdir(join(shm, 'small'));
for (const name of names) await writeFile(join(shm, 'small', name), data);
const passthrough = await startPassthrough(shm);

const sh = (cmd) => run('bash', ['-c', cmd], { maxBuffer: 64 << 20 });
/** A fresh mount (nothing cached) for `work`, unmounted after. */
async function onFreshMount(work) {
  const m = await mount(zookeeperBackend({ connect: server.endpoint }), mnt, { attrTimeout: 1 });
  try {
    return await work();
  } finally {
    await m.unmount();
  }
}
/** Files read per second: open+read+close of each name in `dir`, one after another, in Python. */
const readFiles = async (dir) => {
  const { stdout } = await run('python3', [
    '-c',
    `import os, sys, time
d = sys.argv[1]; names = sys.argv[2:]; t = time.perf_counter(); total = 0
for n in names:
    with open(os.path.join(d, n), 'rb') as f: total += len(f.read())
assert total == ${NODES * data.length}, total
print(len(names) / (time.perf_counter() - t))`,
    dir,
    ...names,
  ]);
  return Number(stdout);
};
const readDirect = async () => {
  for (const name of names) {
    const [value] = await zk('getData', `/small/${name}`);
    if (value.length !== data.length) throw new Error(`/small/${name}: ${value.length} bytes`);
  }
};
const lsThrough = async (flags) => {
  const { stdout } = await sh(`ls ${flags} ${mnt}/wide | wc -l`);
  const want = flags === '-l' ? CHILDREN + 1 : CHILDREN; // ls -l prints a "total" line
  if (Number(stdout) !== want) throw new Error(`ls ${flags} listed ${stdout.trim()} lines, not ${want}`);
};
const childrenDirect = async () => {
  const [children] = await zk('getChildren', '/wide');
  if (children.length !== CHILDREN) throw new Error(`getChildren gave ${children.length}`);
  return children;
};
const childrenAndDataDirect = async () => {
  const children = await childrenDirect();
  await Promise.all(children.map((c) => zk('getData', `/wide/${c}`)));
};

const r = new Rounds();
try {
  // One pass of each side first, not counted: the client's code and the mount's are compiled
  // (JIT) before anything is measured.
  await readDirect();
  await onFreshMount(() => readFiles(join(mnt, 'small')));
  await readFiles(passthrough.through(join(shm, 'small')));
  for (let round = 0; round < ROUNDS; round++) {
    const reads = [
      async () => r.add('read direct', NODES / (await seconds(readDirect))),
      async () =>
        onFreshMount(async () => {
          r.add('read mount', await readFiles(join(mnt, 'small')));
          r.add('read mount warm', await readFiles(join(mnt, 'small')));
        }),
      async () => r.add('read c', await readFiles(passthrough.through(join(shm, 'small')))),
    ];
    for (const side of round % 2 ? reads.reverse() : reads) await side();
    r.add('read', r.all('read mount').at(-1) / r.all('read direct').at(-1));
    r.add('read warm', r.all('read mount warm').at(-1) / r.all('read direct').at(-1));
    // A getData, then the C passthrough's cost for the same file, nothing overlapped.
    const c = r.all('read c').at(-1);
    r.add('ceiling', c / (r.all('read direct').at(-1) + c));
    r.add('of ceiling', r.all('read').at(-1) / r.all('ceiling').at(-1));

    const lists = [
      async () => r.add('ls direct', await seconds(childrenDirect)),
      async () => r.add('ls data direct', await seconds(childrenAndDataDirect)),
      async () => onFreshMount(async () => r.add('ls mount', await seconds(() => lsThrough('-U')))),
      async () => onFreshMount(async () => r.add('ls -l mount', await seconds(() => lsThrough('-l')))),
    ];
    for (const side of round % 2 ? lists.reverse() : lists) await side();
    r.add('ls', r.all('ls direct').at(-1) / r.all('ls mount').at(-1));
    r.add('ls -l', r.all('ls data direct').at(-1) / r.all('ls -l mount').at(-1));
    console.error(
      `round ${round + 1}: read ${f(r.all('read mount').at(-1), 0)} (warm ${f(r.all('read mount warm').at(-1), 0)}) vs ` +
        `${f(r.all('read direct').at(-1), 0)} znodes/s; ls ${f(r.all('ls mount').at(-1) * 1000, 0)} ms, ` +
        `ls -l ${f(r.all('ls -l mount').at(-1) * 1000, 0)} ms vs getChildren ${f(r.all('ls direct').at(-1) * 1000, 0)} ms, ` +
        `+ getData each ${f(r.all('ls data direct').at(-1) * 1000, 0)} ms`,
    );
  }
  const n = NODES.toLocaleString('en-US');
  const c = CHILDREN.toLocaleString('en-US');
  console.log(`\n### ZooKeeper through a mount vs node-zookeeper-client directly (${ROUNDS} rounds)\n`);
  console.log('| | mount (median) | client (median) | ratio per round | target |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| read ${n} znodes of 100 B by name, fresh mount (open+read+close in Python vs getData one by one) | ${f(r.median('read mount'), 0)}/s | ${f(r.median('read direct'), 0)}/s | ${r.range('read')}× | ≥ 0.5× |`,
  );
  console.log(
    `| the same again, cached (watched) | ${f(r.median('read mount warm'), 0)}/s | ${f(r.median('read direct'), 0)}/s | ${r.range('read warm')}× | |`,
  );
  console.log(`| the same files in memory through libfuse's C passthrough (FUSE alone) | ${f(r.median('read c'), 0)}/s | | | |`);
  console.log(
    `| list ${c} children, fresh mount (\`ls -U\` vs one getChildren) | ${f(r.median('ls mount') * 1000, 0)} ms | ${f(r.median('ls direct') * 1000, 0)} ms | ${r.range('ls')}× | |`,
  );
  console.log(
    `| list ${c} children with types (\`ls -l\` vs getChildren + getData each, all in flight) | ${f(r.median('ls -l mount') * 1000, 0)} ms | ${f(r.median('ls data direct') * 1000, 0)} ms | ${r.range('ls -l')}× | |`,
  );
  console.log(
    `\nA getData plus the C passthrough's cost for the same file, nothing overlapped (the ceiling): ` +
      `${f(r.median('ceiling'), 2)}× of the client (rounds ${r.range('ceiling')}×); the fresh mount reads ` +
      `${f(r.median('of ceiling'), 2)}× that (rounds ${r.range('of ceiling')}×).`,
  );
} finally {
  await passthrough.stop();
  await rm(shm, { recursive: true, force: true });
  client.close();
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
  await rm(mnt, { recursive: true, force: true });
}
