import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isMounted, unmountPath } from '@shylock/fuse';
import {
  startDrive,
  startEtcd,
  startGcs,
  startKafka,
  startOrSkip,
  startRedis,
  startS3,
  startSqs,
  startZooKeeper,
} from '@shylock/test-servers';

// `shylock etcd`, `redis`, `s3`, `gcs`, `kafka`, `sqs`, `zookeeper` and `gdrive` end to end: the real command, a real server, a real mount.
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const { server: etcd, skip: etcdSkip } = await startOrSkip(startEtcd);
const { server: redis, skip: redisSkip } = await startOrSkip(startRedis);
const { server: s3, skip: s3Skip } = await startOrSkip(startS3);
const { server: gcs, skip: gcsSkip } = await startOrSkip(startGcs);
const { server: kafka, skip: kafkaSkip } = await startOrSkip(startKafka);
const { server: sqs, skip: sqsSkip } = await startOrSkip(startSqs);
const { server: zk, skip: zkSkip } = await startOrSkip(startZooKeeper);
const { server: drive, skip: driveSkip } = await startOrSkip(startDrive);
afterAll(async () => {
  await drive?.stop();
  await zk?.stop();
  await sqs?.stop();
  await kafka?.stop();
  await gcs?.stop();
  await etcd?.stop();
  await redis?.stop();
  await s3?.stop();
});

const sh = (cmd: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', cmd], { timeout: 20_000, env: { ...process.env, ETCDCTL_API: '3' } }, (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
    ),
  );

/** Starts `shylock ...args`; resolves once it mounted or exited. */
function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = Promise.race([exited, expect.poll(() => err, { timeout: 15_000, interval: 20 }).toMatch(/mounted .* at /)]);
  return { child, exited, ready, stderr: () => err };
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) {
    await unmountPath(d).catch(() => undefined);
    await rm(d, { recursive: true, force: true });
  }
});
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shylock-cli-srv-'));
  dirs.push(d);
  return d;
};

describe.skipIf(!redis)(`shylock redis${redisSkip ? ` (skipped: ${redisSkip})` : ''}`, () => {
  it('mounts $REDIS_HOST with --prefix; echo and cat reach redis-cli; SIGTERM unmounts', async () => {
    const mnt = await tempDir();
    const r = start(['redis', mnt, '--prefix', 'cli:'], { REDIS_HOST: redis!.endpoint });
    await r.ready;
    try {
      expect(r.stderr()).toMatch(/mounted redis at/);
      expect((await sh(`echo v1 > ${mnt}/kv/version && redis-cli -p ${redis!.port} GET cli:version`)).stdout).toBe('v1\n\n');
      await sh(`redis-cli -p ${redis!.port} RPUSH cli:jobs build`);
      expect((await sh(`ls ${mnt}/queues && timeout 5 head -n 1 ${mnt}/queues/jobs`)).stdout).toBe('jobs\nbuild\n');
    } finally {
      r.child.kill('SIGTERM');
    }
    expect(await r.exited).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });
  it('--qos-shared: two mounts share one read budget through Redis; the second takes the rules of the first (QOS_SHARED)', async () => {
    const dir = await tempDir();
    const a = await tempDir();
    const b = await tempDir();
    const rules = join(dir, 'rules.csv');
    await sh(`mkdir ${dir}/data && head -c 6291456 /dev/urandom > ${dir}/data/one && cp ${dir}/data/one ${dir}/data/two`);
    await sh(`printf '/data,2097152,0\\n' > ${rules}`);
    const first = start(['local', dir, a, '--qos', rules, '--qos-shared', `redis://${redis!.endpoint}/3`]);
    await first.ready;
    const second = start(['local', dir, b], { QOS_SHARED: `${redis!.endpoint}/3` });
    await second.ready;
    try {
      expect(first.stderr()).toMatch(/1 QoS rule from .*rules\.csv, budgets shared through redis:\/\//);
      expect(second.stderr()).toMatch(/1 QoS rule shared through 127\.0\.0\.1:\d+\/3/);
      // 12 MiB at 2 MiB/s between them: about 6 s (each alone would take 3 s).
      const t0 = performance.now();
      const times = await Promise.all(
        [`${a}/data/one`, `${b}/data/two`].map(async (f) => {
          const r = await sh(`dd if=${f} of=/dev/null bs=128K 2>&1`);
          expect(r.stdout).toMatch(/6291456 bytes/);
          return (performance.now() - t0) / 1000;
        }),
      );
      for (const t of times) {
        expect(t).toBeGreaterThan(5.2);
        expect(t).toBeLessThan(7.5);
      }
    } finally {
      first.child.kill('SIGTERM');
      second.child.kill('SIGTERM');
    }
    expect(await first.exited).toBe(0);
    expect(await second.exited).toBe(0);
  }, 30_000);
  it('--host and --db flags win over REDIS_HOST and REDIS_DB', async () => {
    const mnt = await tempDir();
    const r = start(['redis', mnt, '--host', redis!.endpoint, '--db', '2'], { REDIS_HOST: '127.0.0.1:9', REDIS_DB: '5' });
    await r.ready;
    try {
      await sh(`echo flagged > ${mnt}/kv/where`);
      expect((await sh(`redis-cli -p ${redis!.port} -n 2 GET where`)).stdout).toBe('flagged\n\n');
    } finally {
      r.child.kill('SIGTERM');
      await r.exited;
    }
  });
  it('an unreachable server exits 1 with one line naming it, and leaves no mount', async () => {
    const mnt = await tempDir();
    const r = start(['redis', mnt, '--host', '127.0.0.1:9']);
    expect(await r.exited).toBe(1);
    expect(r.stderr().trim().split('\n')).toHaveLength(1);
    expect(r.stderr()).toMatch(/Redis at 127\.0\.0\.1:9 is unreachable: the connection was refused .*--host/);
    expect(r.stderr()).not.toMatch(/maxRetriesPerRequest/);
    expect(await isMounted(mnt)).toBe(false);
    const unknown = start(['redis', mnt, '--host', 'no-such-host.invalid:6379']);
    expect(await unknown.exited).toBe(1);
    expect(unknown.stderr()).toMatch(/is unreachable: no such host/);
  });
  it('bad redis options exit 2 with one line', async () => {
    const mnt = await tempDir();
    for (const [args, message] of [
      [['--db', 'x'], /--db must be a database number/],
      [['--host', 'not a host'], /not a host such as localhost:6379/],
      [['--endpoints', 'http://x:1'], /--endpoints is an option of the etcd backend/],
    ] as const) {
      const r = start(['redis', mnt, ...args]);
      expect(await r.exited).toBe(2);
      expect(r.stderr()).toMatch(message);
      expect(r.stderr().trim().split('\n')).toHaveLength(1);
    }
  });
});

describe.skipIf(!etcd)(`shylock etcd${etcdSkip ? ` (skipped: ${etcdSkip})` : ''}`, () => {
  it('mounts $ETC_HOSTS with --prefix; echo reaches etcdctl; ETC_READ_ONLY refuses writes', async () => {
    const mnt = await tempDir();
    const r = start(['etcd', mnt, '--prefix', '/apps'], { ETC_HOSTS: etcd!.endpoint });
    await r.ready;
    try {
      expect((await sh(`mkdir ${mnt}/web && echo on > ${mnt}/web/flag`)).code).toBe(0);
      expect((await sh(`etcdctl --endpoints ${etcd!.endpoint} get --print-value-only /apps/web/flag`)).stdout).toBe('on\n\n');
    } finally {
      r.child.kill('SIGTERM');
    }
    expect(await r.exited).toBe(0);
    const ro = start(['etcd', mnt, '--prefix', '/apps'], { ETC_HOSTS: etcd!.endpoint, ETC_READ_ONLY: 'true' });
    await ro.ready;
    try {
      expect((await sh(`cat ${mnt}/web/flag`)).stdout).toBe('on\n');
      expect((await sh(`echo off > ${mnt}/web/flag`)).stderr).toMatch(/Read-only file system/);
    } finally {
      ro.child.kill('SIGTERM');
      await ro.exited;
    }
  });
  it('an unreachable cluster exits 1 with one line, and a bad endpoint exits 2', async () => {
    const mnt = await tempDir();
    const down = start(['etcd', mnt, '--endpoints', 'http://127.0.0.1:9']);
    expect(await down.exited).toBe(1);
    expect(down.stderr()).toMatch(/etcd at http:\/\/127\.0\.0\.1:9 (is unreachable: the connection was refused|did not answer)/);
    expect(down.stderr()).not.toMatch(/Resolution note/);
    expect(down.stderr().trim().split('\n')).toHaveLength(1);
    const bad = start(['etcd', mnt, '--endpoints', 'nope/x']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/not an endpoint/);
  });
});

describe.skipIf(!s3)(`shylock s3${s3Skip ? ` (skipped: ${s3Skip})` : ''}`, () => {
  const creds = () => ({ AWS_ACCESS_KEY_ID: s3!.accessKeyId, AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey });
  // versitygw keeps each object as a file under <dir>/root/<bucket>/<key>: the server's own copy.
  const stored = (key: string) => join(s3!.dir, 'root', s3!.bucket, key);
  it('mounts bucket/prefix at --endpoint with the credentials from the environment; --read-only refuses writes', async () => {
    const mnt = await tempDir();
    const r = start(['s3', `${s3!.bucket}/cli`, mnt, '--endpoint', s3!.endpoint], creds());
    await r.ready;
    try {
      expect(r.stderr()).toMatch(/mounted s3 at/);
      expect((await sh(`mkdir ${mnt}/web && echo on > ${mnt}/web/flag && cat ${stored('cli/web/flag')}`)).stdout).toBe('on\n');
    } finally {
      r.child.kill('SIGTERM');
    }
    expect(await r.exited).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
    const ro = start(['s3', `${s3!.bucket}/cli`, mnt, '--endpoint', s3!.endpoint, '--read-only'], creds());
    await ro.ready;
    try {
      expect((await sh(`cat ${mnt}/web/flag`)).stdout).toBe('on\n');
      expect((await sh(`echo off > ${mnt}/web/flag`)).stderr).toMatch(/Read-only file system/);
    } finally {
      ro.child.kill('SIGTERM');
      await ro.exited;
    }
  });
  it('a refused endpoint, a missing bucket and wrong credentials exit 1 with one line each, and leave no mount', async () => {
    const mnt = await tempDir();
    for (const [args, env, message] of [
      [['s3', s3!.bucket, mnt, '--endpoint', 'http://127.0.0.1:9'], creds(), /unreachable: the connection was refused .*--endpoint/],
      [['s3', 'no-such-bucket', mnt, '--endpoint', s3!.endpoint], creds(), /no such bucket/],
      [
        ['s3', s3!.bucket, mnt, '--endpoint', s3!.endpoint],
        { AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'x' },
        /refused the request .*credentials/,
      ],
    ] as const) {
      const r = start([...args], env);
      expect(await r.exited).toBe(1);
      expect(r.stderr()).toMatch(message);
      expect(r.stderr().trim().split('\n')).toHaveLength(1);
      expect(await isMounted(mnt)).toBe(false);
    }
  });
  it('bad s3 arguments exit 2 with one line', async () => {
    const mnt = await tempDir();
    for (const [args, message] of [
      [['s3', mnt], /name the mountpoint|needs|usage/i],
      [['s3', 'bad bucket', mnt], /is not a bucket name/],
      [['s3', 'data', mnt, '--endpoint', 'localhost:9000'], /must be a URL such as/],
      [['s3', 'data', mnt, '--part-size', '1TB'], /unknown unit "TB"/],
      [['s3', 'data', mnt, '--part-size', '1M'], /partSize must be between/],
    ] as const) {
      const r = start([...args]);
      expect(await r.exited).toBe(2);
      expect(r.stderr()).toMatch(message);
      expect(r.stderr().trim().split('\n')).toHaveLength(1);
    }
  });
});

describe.skipIf(!gcs)(`shylock gcs${gcsSkip ? ` (skipped: ${gcsSkip})` : ''}`, () => {
  // The emulator's JSON API, as any client sees it: the server's own copy of an object.
  const stored = async (key: string) => {
    const res = await fetch(`${gcs!.endpoint}/download/storage/v1/b/cli/o/${encodeURIComponent(key)}?alt=media`);
    return res.ok ? res.text() : `HTTP ${res.status}`;
  };
  it('mounts bucket/prefix at --endpoint; a file written through it is stored; SIGTERM unmounts', async () => {
    await fetch(`${gcs!.endpoint}/storage/v1/b?project=test`, { method: 'POST', body: JSON.stringify({ name: 'cli' }) });
    const mnt = await tempDir();
    const r = start(['gcs', 'cli/under', mnt, '--endpoint', gcs!.endpoint, '--project', 'test']);
    await r.ready;
    try {
      expect(r.stderr()).toMatch(/mounted gcs at/);
      expect((await sh(`mkdir ${mnt}/web && echo on > ${mnt}/web/flag && cat ${mnt}/web/flag`)).stdout).toBe('on\n');
      expect(await stored('under/web/flag')).toBe('on\n');
    } finally {
      r.child.kill('SIGTERM');
    }
    expect(await r.exited).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  });
  it('a refused endpoint and a missing bucket exit 1 with one line each; bad arguments exit 2', async () => {
    const mnt = await tempDir();
    for (const [args, message] of [
      [['gcs', 'cli', mnt, '--endpoint', 'http://127.0.0.1:9'], /unreachable: the connection was refused .*--endpoint/],
      [['gcs', 'no-such-bucket', mnt, '--endpoint', gcs!.endpoint], /no such bucket/],
    ] as const) {
      const r = start([...args]);
      expect(await r.exited).toBe(1);
      expect(r.stderr()).toMatch(message);
      expect(r.stderr().trim().split('\n')).toHaveLength(1);
      expect(await isMounted(mnt)).toBe(false);
    }
    for (const [args, message] of [
      [['gcs', 'Bad_Bucket', mnt], /is not a bucket name/],
      [['gcs', 'data', mnt, '--endpoint', 'ftp://x'], /must be a URL such as/],
      [['gcs', 'data', mnt, '--part-size', '300KiB'], /a multiple of 262144/],
      [['gcs', 'data', mnt, '--timeout', 'soon'], /--timeout/],
    ] as const) {
      const r = start([...args]);
      expect(await r.exited).toBe(2);
      expect(r.stderr()).toMatch(message);
      expect(r.stderr().trim().split('\n')).toHaveLength(1);
    }
  });
});

describe.skipIf(!kafka)(`shylock kafka${kafkaSkip ? ` (skipped: ${kafkaSkip})` : ''}`, () => {
  it('mounts $KAFKA_BROKERS; echo produces, head follows; --topic serves one topic; SIGTERM unmounts', async () => {
    const mnt = await tempDir();
    const r = start(['kafka', mnt], { KAFKA_BROKERS: kafka!.endpoint });
    await r.ready;
    try {
      expect(r.stderr()).toMatch(/mounted kafka at/);
      const out = await sh(
        `echo shipped >> ${mnt}/orders && echo packed >> ${mnt}/orders && timeout 10 head -n 2 ${mnt}/orders && ls ${mnt}`,
      );
      expect(out.stdout).toBe('shipped\npacked\norders\n');
    } finally {
      r.child.kill('SIGTERM');
    }
    expect(await r.exited).toBe(0);
    const one = start(['kafka', mnt, '--brokers', kafka!.endpoint, '--topic', 'orders']);
    await one.ready;
    try {
      expect((await sh(`ls ${mnt}; ls ${mnt}/.partitions ${mnt}/.groups/any; cat ${mnt}/.partitions/orders/0/end`)).stdout).toBe(
        'orders\n/MNT/.groups/any:\norders\n\n/MNT/.partitions:\norders\n2\n'.replaceAll('/MNT', mnt),
      );
      expect((await sh(`echo x > ${mnt}/other`)).stderr).toMatch(/No such file or directory/);
    } finally {
      one.child.kill('SIGTERM');
      await one.exited;
    }
    expect(await isMounted(mnt)).toBe(false);
  }, 40_000);
  it('unreachable brokers exit 1 with one line; bad arguments exit 2', async () => {
    const mnt = await tempDir();
    const r = start(['kafka', mnt, '--brokers', '127.0.0.1:9', '--timeout', '2000']);
    expect(await r.exited).toBe(1);
    expect(r.stderr()).toMatch(/unreachable.*--brokers/);
    expect(r.stderr().trim().split('\n')).toHaveLength(1);
    expect(await isMounted(mnt)).toBe(false);
    for (const [args, message] of [
      [['kafka', mnt, '--brokers', 'nohost'], /is not host:port/],
      [['kafka', mnt, '--acks', '2'], /--acks must be all or 1/],
      [['kafka', mnt, '--sasl-username', 'u'], /need --sasl-mechanism/],
      [['kafka', mnt, '--partitions', '0'], /--partitions must be at least 1/],
      [['kafka', mnt, '--topic', 'bad/name'], /not a topic name/],
    ] as const) {
      const b = start([...args]);
      expect(await b.exited).toBe(2);
      expect(b.stderr()).toMatch(message);
      expect(b.stderr().trim().split('\n')).toHaveLength(1);
    }
  }, 60_000);
});

describe.skipIf(!sqs)(`shylock sqs${sqsSkip ? ` (skipped: ${sqsSkip})` : ''}`, () => {
  const aws = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
  it('mounts $AWS_ENDPOINT_URL_SQS; touch makes a queue, echo sends, head receives; SIGTERM unmounts', async () => {
    const mnt = await tempDir();
    const r = start(['sqs', mnt, '--wait-seconds', '2'], { ...aws, AWS_ENDPOINT_URL_SQS: sqs!.endpoint });
    await r.ready;
    try {
      expect(r.stderr()).toMatch(/mounted sqs at/);
      const out = await sh(`touch ${mnt}/jobs && echo build >> ${mnt}/jobs && timeout 10 head -n 1 ${mnt}/jobs && ls ${mnt}`);
      expect(out.stdout).toBe('build\njobs\n');
      expect((await sh(`grep -c . ${mnt}/.attributes/jobs`)).stdout.trim()).not.toBe('0');
    } finally {
      r.child.kill('SIGTERM');
    }
    expect(await r.exited).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  }, 40_000);
  it('an unreachable endpoint exits 1 with one line; bad arguments exit 2', async () => {
    const mnt = await tempDir();
    const r = start(['sqs', mnt, '--endpoint', 'http://127.0.0.1:9', '--timeout', '2000'], aws);
    expect(await r.exited).toBe(1);
    expect(r.stderr()).toMatch(/unreachable.*--endpoint/);
    expect(r.stderr().trim().split('\n')).toHaveLength(1);
    expect(await isMounted(mnt)).toBe(false);
    for (const [args, message] of [
      [['sqs', mnt, '--endpoint', 'localhost:9324'], /must be a URL such as http:\/\/127\.0\.0\.1:9324/],
      [['sqs', mnt, '--wait-seconds', '30'], /--wait-seconds must be 0 to 20/],
      [['sqs', mnt, '--queue-attributes', 'nonsense'], /--queue-attributes must be Name=value pairs/],
      [['sqs', 'extra', mnt], /too many arguments for sqs/],
    ] as const) {
      const b = start([...args], aws);
      expect(await b.exited).toBe(2);
      expect(b.stderr()).toMatch(message);
      expect(b.stderr().trim().split('\n')).toHaveLength(1);
    }
  }, 60_000);
});

describe.skipIf(!zk)(`shylock zookeeper${zkSkip ? ` (skipped: ${zkSkip})` : ''}`, () => {
  it('mounts $ZK_HOSTS under --prefix; mkdir, echo and cat reach znodes; SIGTERM unmounts', async () => {
    const mnt = await tempDir();
    const base = await tempDir();
    // The prefix must exist: made through a first mount of the whole tree.
    const whole = start(['zookeeper', base], { ZK_HOSTS: zk!.endpoint });
    await whole.ready;
    try {
      expect((await sh(`mkdir -p ${base}/apps/web`)).code).toBe(0);
    } finally {
      whole.child.kill('SIGTERM');
      await whole.exited;
    }
    const r = start(['zookeeper', mnt, '--prefix', '/apps', '--timeout', '3000'], { ZK_HOSTS: zk!.endpoint });
    await r.ready;
    try {
      expect(r.stderr()).toMatch(/mounted zookeeper at/);
      const out = await sh(`echo 'port=80' > ${mnt}/web/conf && cat ${mnt}/web/conf && ls -F ${mnt}`);
      expect(out.stdout).toBe('port=80\nweb/\n');
    } finally {
      r.child.kill('SIGTERM');
    }
    expect(await r.exited).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  }, 40_000);
  it('an unreachable ensemble exits 1 with one line; a missing prefix too; bad arguments exit 2', async () => {
    const mnt = await tempDir();
    const r = start(['zookeeper', mnt, '--connect', '127.0.0.1:9', '--timeout', '2000']);
    expect(await r.exited).toBe(1);
    expect(r.stderr()).toMatch(/unreachable.*--connect/);
    expect(r.stderr().trim().split('\n')).toHaveLength(1);
    const missing = start(['zookeeper', mnt, '--connect', zk!.endpoint, '--prefix', '/no/such/prefix']);
    expect(await missing.exited).toBe(1);
    expect(missing.stderr()).toMatch(/the prefix \/no\/such\/prefix does not exist/);
    expect(await isMounted(mnt)).toBe(false);
    for (const [args, message] of [
      [['zookeeper', mnt, '--connect', 'nohost'], /is not host:port/],
      [['zookeeper', mnt, '--prefix', 'apps'], /--prefix "apps" must start with \//],
      [['zookeeper', mnt, '--session-timeout', '10'], /--session-timeout must be at least 1000 ms/],
    ] as const) {
      const b = start([...args]);
      expect(await b.exited).toBe(2);
      expect(b.stderr()).toMatch(message);
      expect(b.stderr().trim().split('\n')).toHaveLength(1);
    }
  }, 60_000);
});

describe.skipIf(!drive)(`shylock gdrive${driveSkip ? ` (skipped: ${driveSkip})` : ''}`, () => {
  it('mounts Drive with the credentials of GOOGLE_APPLICATION_CREDENTIALS; mkdir, echo, mv and cat work; SIGTERM unmounts', async () => {
    const mnt = await tempDir();
    const r = start(['gdrive', mnt, '--endpoint', drive!.endpoint, '--refresh', '1000'], {
      GOOGLE_APPLICATION_CREDENTIALS: drive!.keyFile,
    });
    await r.ready;
    try {
      expect(r.stderr()).toMatch(/mounted gdrive at/);
      const out = await sh(
        `mkdir ${mnt}/cli && echo drive > ${mnt}/cli/a && mv ${mnt}/cli/a ${mnt}/cli/b && cat ${mnt}/cli/b && ls ${mnt}/cli`,
      );
      expect(out.stdout).toBe('drive\nb\n');
    } finally {
      r.child.kill('SIGTERM');
    }
    expect(await r.exited).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
  }, 40_000);
  it('refused credentials and an unreachable endpoint exit 1 with one line; bad arguments exit 2', async () => {
    const mnt = await tempDir();
    const down = start(['gdrive', mnt, '--endpoint', 'http://127.0.0.1:9', '--credentials', drive!.keyFile, '--timeout', '2000']);
    expect(await down.exited).toBe(1);
    expect(down.stderr()).toMatch(/unreachable.*--endpoint/);
    expect(down.stderr().trim().split('\n')).toHaveLength(1);
    const dir = await tempDir();
    const wrong = join(dir, 'not-a-key.json');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(wrong, '{"type": "service_account", "client_email": "x@y", "private_key": "nope"}'),
    );
    const refused = start(['gdrive', mnt, '--endpoint', drive!.endpoint, '--credentials', wrong]);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr().trim().split('\n')).toHaveLength(1);
    expect(refused.stderr()).toMatch(/the private key in .*not-a-key.json can't sign/);
    expect(await isMounted(mnt)).toBe(false);
    for (const [args, message] of [
      [['gdrive', mnt, '--credentials', '/nonexistent/key.json'], /--credentials \/nonexistent\/key.json: no such file/],
      [['gdrive', mnt, '--folder', 'a/b', '--credentials', drive!.keyFile], /--folder "a\/b" is not a Drive id/],
      [['gdrive', mnt, '--endpoint', 'ftp://x', '--credentials', drive!.keyFile], /--endpoint "ftp:\/\/x" must be a URL/],
      [['gdrive', mnt, '--refresh', 'soon', '--credentials', drive!.keyFile], /--refresh/],
    ] as const) {
      const b = start([...args]);
      expect(await b.exited).toBe(2);
      expect(b.stderr()).toMatch(message);
      expect(b.stderr().trim().split('\n')).toHaveLength(1);
    }
  }, 60_000);
});
