import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { mount } from '@shylock/fuse';
import { startEtcd } from '@shylock/test-servers';
import { etcdBackend } from '@shylock/etcd';
import { createPolicy } from '@shylock/qos';
const run = promisify(execFile);
const SMALL = 1000;
const server = await startEtcd();
const client = new Etcd3({ hosts: server.endpoint });
const value = Buffer.alloc(100, 'v');
for (let i = 0; i < SMALL; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => client.put(`/small/k${i + j}`).value(value)));
const variants = JSON.parse(process.env.VARIANTS ?? '[{}]');
const mounts = [];
for (const v of variants) {
  const mnt = await mkdtemp(join(tmpdir(), 'eab-'));
  mounts.push({ v, mnt, m: await mount(etcdBackend({ endpoints: server.endpoint }), mnt, { attrTimeout: 1, ...v, ...(v.qos ? { qos: createPolicy(v.qos === 'rule' ? [{ path: '/', readBytesPerSec: 1e12 }] : []) } : {}) }) });
}
const code = `import os, sys, time
d = sys.argv[1]; n = int(sys.argv[2])
t = time.perf_counter()
for i in range(n):
    with open(os.path.join(d, 'k%d' % i), 'rb') as f: assert len(f.read()) == 100
print(n / (time.perf_counter() - t))`;
const res = new Map();
try {
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < SMALL; i++) await client.get(`/small/k${i}`).buffer();
    const d = SMALL / ((performance.now() - t0) / 1000);
    (res.get('direct') ?? res.set('direct', []).get('direct')).push(d);
    for (const { v, mnt } of mounts) {
      const { stdout } = await run('python3', ['-c', code, join(mnt, 'small'), String(SMALL)]);
      const k = JSON.stringify(v);
      (res.get(k) ?? res.set(k, []).get(k)).push(Number(stdout));
      (res.get(k + ' ratio') ?? res.set(k + ' ratio', []).get(k + ' ratio')).push(Number(stdout) / d);
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  for (const [k, a] of res) console.log(k.padEnd(30), med(a).toFixed(2), a.map((x) => x.toFixed(2)).join(' '));
} finally {
  for (const { m, mnt } of mounts) { await m.unmount(); await rm(mnt, { recursive: true }); }
  client.close(); await server.stop();
}
