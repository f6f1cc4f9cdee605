import { readFileSync, realpathSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  compose,
  isShylockError,
  isUnder,
  normalizePath,
  type Backend,
  type OptionDecl,
  optionHelp,
  optionsFrom,
  parseBoolean,
  type QosRule,
  splitPath,
} from '@shylock/core';
import { hostMknod, hostXattr, mount, type Mount, type MountOptions } from '@shylock/fuse';
import { ETCD_OPTIONS, etcdBackend } from '@shylock/etcd';
import { REDIS_OPTIONS, redisBackend } from '@shylock/redis';
import { GCS_OPTIONS, gcsBackend } from '@shylock/gcs';
import { GDRIVE_OPTIONS, gdriveBackend } from '@shylock/gdrive';
import { KAFKA_OPTIONS, kafkaBackend } from '@shylock/kafka';
import { S3_OPTIONS, s3Backend } from '@shylock/s3';
import { SQS_OPTIONS, sqsBackend } from '@shylock/sqs';
import { ZOOKEEPER_OPTIONS, zookeeperBackend } from '@shylock/zookeeper';
import { localBackend } from '@shylock/local';
import { MEMORY_OPTIONS, memoryBackend } from '@shylock/memory';
import { createPolicy, createQosServer, loadQosFile, parseRedisUrl, type Policy, type QosServer } from '@shylock/qos';
import { runDocker } from './docker.js';

/** A mistake in how the command was called: one line on stderr, exit code 2. */
export class UsageError extends Error {}

/** Mount options a backend wants (remote stores: kernel and listing caches). */
type MountSettings = Pick<MountOptions, 'attrTimeout' | 'listingCacheMs'>;

interface BackendSpec {
  /** One line for the list of backends. */
  summary: string;
  /** The positional arguments before the mountpoint. */
  sources: string;
  /** Help beyond the options' own lines. */
  help?: string;
  /** The backend's options, declared once (by its package): its flags, environment and help come from them. */
  options: readonly OptionDecl[];
  /**
   * Makes the backend from the positionals before the mountpoint and its options, as the flags
   * and then the environment give them (parsed by their declarations).
   */
  make(sources: string[], options: Record<string, unknown>, env: NodeJS.ProcessEnv, mountpoint: string): Backend;
  /** How many positionals before the mountpoint: [min, max]. */
  arity: [number, number];
  /** Mount options this backend wants, fixed or from its options (and the backend made). */
  mount?: MountSettings | ((options: Record<string, unknown>, backend: Backend) => MountSettings);
  /** One request that must succeed before mounting: an unreachable server fails the start. */
  probe?(backend: Backend): Promise<unknown>;
}

/**
 * Rules written for another mount (`/mnt/a/x` loaded into `/mnt/b`), which would match nothing,
 * silently: a path outside the mountpoint whose top directory is one of this host's and not one
 * of the mounted tree's. A rule for a path of the mount that does not exist yet (`/b/`) is fine.
 * One warning each; a backend too slow to answer is not waited for.
 */
async function strayRules(rules: QosRule[], mountpoint: string, backend: Backend): Promise<string[]> {
  const out: string[] = [];
  for (const rule of rules) {
    const path = normalizePath(rule.path.trim(), 'qos rule');
    if (path === '/' || isUnder(path, mountpoint)) continue;
    const top = `/${splitPath(path)[0]}`;
    const onHost = await stat(top).then(
      () => true,
      () => false,
    );
    if (!onHost) continue;
    const held = await backend.stat(top, { signal: AbortSignal.timeout(2000) }).then(
      () => true,
      (e: unknown) => !(isShylockError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR')),
    );
    if (!held) {
      const hint = mountpoint === '/' ? '' : ` (a rule for this mount is written ${mountpoint}/… or /…)`;
      out.push(
        `the QoS rule for ${path} is outside the mountpoint ${mountpoint} and ${top} is not in the mount: it matches nothing${hint}`,
      );
    }
  }
  return out;
}

/**
 * The directory `local` serves must exist, be a directory, and lie apart from the mountpoint: the
 * same directory, one inside the other, and the mount would serve itself (every access waits for
 * itself).
 */
function checkSource(dir: string, mountpoint: string): void {
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(dir);
  } catch {
    throw new UsageError(`the directory to serve, ${dir}, does not exist`);
  }
  if (!info.isDirectory()) throw new UsageError(`the directory to serve, ${dir}, is not a directory`);
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  const source = real(dir);
  const target = real(mountpoint);
  const under = (a: string, b: string) => a === b || a.startsWith(b.endsWith('/') ? b : `${b}/`);
  if (source === target) throw new UsageError(`${dir} can't be both the directory to serve and the mountpoint: mount it somewhere else`);
  if (under(target, source))
    throw new UsageError(`the mountpoint ${mountpoint} is inside the directory to serve (${dir}): mount it outside`);
  if (under(source, target))
    throw new UsageError(`the directory to serve (${dir}) is inside the mountpoint ${mountpoint}: the mount would hide it`);
}

/** The command's own flags; a backend's flags come from its option declarations. */
interface Flags {
  qos?: string;
  'qos-shared'?: string;
  'api-port'?: string;
  'api-host'?: string;
  'read-only'?: boolean;
  'allow-other'?: boolean;
  'no-native-io'?: boolean;
  verbose?: boolean;
  check?: boolean;
  help?: boolean;
  version?: boolean;
  [backendFlag: string]: string | boolean | undefined;
}

/** `shylock local`'s own option: extended attributes come from the FUSE binding (hostXattr). */
const LOCAL_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'noXattrs',
    flag: 'no-xattrs',
    type: 'boolean',
    help: 'no extended attributes (the kernel then stops asking for security.capability before every write: small writes run about twice as fast)',
  },
];

/** The backends this command can mount. */
/**
 * An object store's mount: a listing answers the lookups that follow it for --cache-ttl (the
 * backend keeps it that long anyway); the kernel keeps attributes a second.
 */
const objectMount = (options: Record<string, unknown>): MountSettings => ({
  attrTimeout: 1,
  listingCacheMs: (options.cacheTtlMs as number | undefined) ?? 10_000,
});

export const BACKENDS: Record<string, BackendSpec> = {
  memory: {
    summary: 'an in-memory tree (gone at unmount)',
    sources: '',
    arity: [0, 0],
    options: MEMORY_OPTIONS,
    make: (_sources, options) => memoryBackend(options),
  },
  local: {
    summary: 'a local directory, passed through',
    sources: '[<dir>]',
    arity: [0, 1],
    help: `  <dir>                the directory to serve (default: $PATHQOS_DIR)`,
    options: LOCAL_OPTIONS,
    make: (sources, options, env, mountpoint) => {
      const dir = sources[0] ?? env.PATHQOS_DIR;
      if (!dir) throw new UsageError('local needs the directory to serve: shylock local <dir> <mountpoint> (or set PATHQOS_DIR)');
      checkSource(resolve(dir), mountpoint);
      return localBackend({ root: resolve(dir), mknod: hostMknod, ...(options.noXattrs ? {} : { xattrs: hostXattr }) });
    },
  },
  etcd: {
    summary: 'etcd v3 keys as files (key = path, value = contents)',
    sources: '',
    arity: [0, 0],
    // Each uncached stat is a network round trip; new keys still appear at once.
    mount: { attrTimeout: 1 },
    probe: (b) => b.list('/'),
    options: ETCD_OPTIONS,
    // --read-only / ETC_READ_ONLY apply to the whole mount (a layer), not to the backend twice.
    make: (_sources, options) => etcdBackend({ ...options, readOnly: false }),
  },
  redis: {
    summary: 'Redis as files: kv/ string keys, pubsub/ channels, streams/, queues/',
    sources: '',
    arity: [0, 0],
    mount: { attrTimeout: 1 },
    probe: (b) => b.list('/pubsub'),
    options: REDIS_OPTIONS,
    help: `  The mount holds kv/ (string keys; a '/' in a key is a directory), pubsub/<channel>
  (write publishes a line, cat subscribes), streams/<key> (XADD per line; cat reads from
  the start and follows) and queues/<key> (RPUSH per line; each read pops one task).`,
    make: (_sources, options) => redisBackend(options),
  },
  kafka: {
    summary: 'Kafka topics as files: a line written is a message, cat follows a topic',
    sources: '',
    arity: [0, 0],
    mount: { attrTimeout: 1 },
    probe: (b) => b.list('/'),
    options: KAFKA_OPTIONS,
    help: `  The root lists the topics. echo >> /mnt/kafka/orders produces a message per line, each
  acknowledged by the brokers before close returns; cat /mnt/kafka/orders prints the topic from
  its earliest offset and then follows it like tail -f. touch creates a topic (--partitions,
  --replication-factor); rm deletes one only with --allow-delete.
  cat /mnt/kafka/.groups/<group>/orders reads as a member of that consumer group (readers split
  the partitions; what was read is committed). /mnt/kafka/.partitions/orders/<n>/ holds start,
  end (offsets as text), messages (that partition as a stream) and from/<offset>.

Examples:
  shylock kafka /mnt/kafka                                        (brokers from KAFKA_BROKERS)
  shylock kafka /mnt/kafka --brokers k1:9092,k2:9092 --client-id ops
  shylock kafka /mnt/orders --topic orders --keys                 (one topic; lines key<TAB>value)
  shylock kafka /mnt/kafka --partitions 6 --replication-factor 3 --acks all --allow-delete
  shylock kafka /mnt/kafka --ssl --sasl-mechanism scram-sha-512 --sasl-username app --sasl-password s3cret
  shylock kafka /mnt/kafka --timeout 5000 --qos rules.csv --read-only`,
    // --read-only / ETC_READ_ONLY apply to the whole mount (a layer), not to the backend twice.
    make: (_sources, options) => kafkaBackend({ ...options, readOnly: false }),
  },
  sqs: {
    summary: 'Amazon SQS queues as files: a line written is a message, cat receives',
    sources: '',
    arity: [0, 0],
    mount: { attrTimeout: 1 },
    probe: (b) => b.list('/'),
    options: SQS_OPTIONS,
    help: `  The root lists the queues. echo >> /mnt/sqs/jobs sends a message per line (in batches of
  up to 10), accepted by SQS before close returns; cat /mnt/sqs/jobs receives, long-polling.
  A message is deleted once the read that returned it was answered (when the reader reads on,
  or closes); messages received and not read go back at close. If the mount dies first, they
  come back after the queue's visibility timeout: delivery is at-least-once. A line is at most
  256 KiB of text. /mnt/sqs/.attributes/jobs shows the queue's attributes and counts. touch
  creates a queue (a name ending in .fifo makes a FIFO queue); rm deletes one only with
  --allow-delete. Credentials come from the AWS SDK's chain (AWS_ACCESS_KEY_ID and
  AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the machine's role).

Examples:
  shylock sqs /mnt/sqs                                          (AWS, region from AWS_REGION)
  shylock sqs /mnt/sqs --region eu-west-1 --wait-seconds 10
  shylock sqs /mnt/sqs --endpoint http://127.0.0.1:9324         (an SQS-compatible server)
  shylock sqs /mnt/sqs --group-id orders --visibility-timeout 60 --allow-delete
  shylock sqs /mnt/sqs --queue-attributes MessageRetentionPeriod=3600 --qos rules.csv`,
    make: (_sources, options) => sqsBackend({ ...options, readOnly: false }),
  },
  zookeeper: {
    summary: 'ZooKeeper znodes as files: data is contents, children make directories',
    sources: '',
    arity: [0, 0],
    mount: { attrTimeout: 1 },
    probe: (b) => b.list('/'),
    options: ZOOKEEPER_OPTIONS,
    help: `  A znode with data and no children is a file whose contents are its data; a znode with
  children, or with null data (what mkdir makes), is a directory, and its own data is the file
  .data in it. A write is set at close only if nobody changed the znode since the open (else
  close fails EIO: nothing is overwritten); data is at most 1 MiB less 4 KiB (EFBIG). Files
  created under <dir>/.ephemeral/ are ephemeral znodes (gone when the mount's session ends);
  under <dir>/.sequential/ (or .ephemeral-sequential/) each write-open makes the next numbered
  znode. Watches keep what the mount caches fresh. rm -r and mv work on subtrees (mv in one
  transaction).

Examples:
  shylock zookeeper /mnt/zk                                    (servers from ZK_HOSTS)
  shylock zookeeper /mnt/zk --connect zk1:2181,zk2:2181,zk3:2181 --prefix /apps
  shylock zookeeper /mnt/zk --session-timeout 30000 --timeout 3000 --read-only
  echo up > /mnt/zk/services/.ephemeral/$(hostname)             (a presence znode for this mount)`,
    make: (_sources, options) => zookeeperBackend({ ...options, readOnly: false }),
  },
  s3: {
    summary: 'an S3 bucket (AWS or S3-compatible) as files; / in keys are directories',
    sources: '<bucket[/prefix]>',
    arity: [1, 1],
    mount: objectMount,
    probe: (b) => b.list('/'),
    options: S3_OPTIONS,
    help: `  <bucket[/prefix]>    the bucket, or only the keys under a prefix of it

  Credentials come from the AWS SDK's chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
  AWS_PROFILE and ~/.aws/config, or the machine's role. A file written in order streams up
  as a multipart upload; close returns once S3 holds it. Rename is copy + delete.

Examples:
  shylock s3 photos /mnt/photos                                  (AWS, region from AWS_REGION)
  shylock s3 photos/2026 /mnt/2026 --region eu-west-1            (only keys under 2026/)
  shylock s3 data /mnt/data --endpoint http://127.0.0.1:9000     (an S3-compatible server)
  shylock s3 data /mnt/data --endpoint https://s3.example.com --force-path-style
  shylock s3 logs /mnt/logs --storage-class STANDARD_IA --part-size 64MiB --upload-concurrency 8
  shylock s3 media /mnt/media --read-ahead 256MiB --cache-ttl 60000 --read-only
  shylock s3 data /mnt/data --spool-dir /var/tmp/shylock --timeout 10000 --qos rules.csv`,
    make: (sources, options) => s3Backend({ ...options, bucket: sources[0]! }),
  },
  gcs: {
    summary: 'a Google Cloud Storage bucket as files; / in names are directories',
    sources: '<bucket[/prefix]>',
    arity: [1, 1],
    mount: objectMount,
    probe: (b) => b.list('/'),
    options: GCS_OPTIONS,
    help: `  <bucket[/prefix]>    the bucket, or only the objects under a prefix of it

  Credentials are Google's application default credentials (GOOGLE_APPLICATION_CREDENTIALS,
  gcloud auth application-default login, or the machine's service account) unless --key-file
  names a key. A file written in order streams up as a resumable upload; close returns once
  Cloud Storage holds it. Reads stay on the generation opened. Rename is copy + delete.

Examples:
  shylock gcs photos /mnt/photos                                 (application default credentials)
  shylock gcs photos/2026 /mnt/2026 --key-file sa.json           (only objects under 2026/)
  shylock gcs data /mnt/data --endpoint http://127.0.0.1:4443 --project test   (an emulator)
  shylock gcs logs /mnt/logs --part-size 32MiB --upload-concurrency 2
  shylock gcs media /mnt/media --read-ahead 256MiB --cache-ttl 60000 --read-only
  shylock gcs data /mnt/data --spool-dir /var/tmp/shylock --timeout 10000 --qos rules.csv`,
    make: (sources, options) => gcsBackend({ ...options, bucket: sources[0]! }),
  },
  gdrive: {
    summary: 'Google Drive as files: folders are directories, Docs read as exports',
    sources: '',
    arity: [0, 0],
    // Listings answer lookups until the changes feed is asked again.
    mount: (options) => ({ attrTimeout: 1, listingCacheMs: (options.refreshMs as number | undefined) ?? 5000 }),
    probe: (b) => b.list('/'),
    options: GDRIVE_OPTIONS,
    help: `  The root is My Drive (or --folder, or --shared-drive). Folders are directories; a file
  written in order streams up as a resumable upload, close returns once Drive holds it; mv is a
  move (nothing copied); rm moves to the trash (--delete-permanently to skip it). Docs, Sheets
  and Slides read as .docx, .xlsx and .pptx exports (read-only). Two files of one name in a
  folder show as name and "stem (id).ext". What others change shows within --refresh.
  Credentials: a service account key (it signs its own tokens) or an OAuth token file
  (authorized_user), from --credentials or GOOGLE_APPLICATION_CREDENTIALS.

Examples:
  shylock gdrive /mnt/drive --credentials service-account.json
  shylock gdrive /mnt/team --shared-drive 0AbCdEfGhIjKlUk9PVA --credentials sa.json
  shylock gdrive /mnt/reports --folder 1AbCdEfGhIjKlMnOpQrStUvWxYz --refresh 2000 --read-only
  shylock gdrive /mnt/drive --delete-permanently --part-size 32MiB --spool-dir /var/tmp/shylock`,
    make: (_sources, options) => gdriveBackend({ ...options, readOnly: false }),
  },
};

/** A member of a `shylock compose` tree: the backend made, and how it was declared. */
interface Member {
  path: string;
  backend: Backend;
  spec: BackendSpec;
  options: Record<string, unknown>;
}
const composed = new WeakMap<Backend, Member[]>();

/**
 * Reads a tree file: `{ "/config": { "backend": "etcd", "prefix": "/apps" }, … }`, each value a
 * backend by name, its `source` (the argument before the mountpoint, where it takes one), and
 * its flags by name (`"host": "cache:6379"`, `"allow-delete": true`).
 */
function composeTree(file: string, env: NodeJS.ProcessEnv, mountpoint: string): Backend {
  let tree: unknown;
  try {
    tree = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `${file}: ${code === 'ENOENT' ? 'no such file' : code ? (e as Error).message : `not JSON (${(e as Error).message})`}`,
    );
  }
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree) || Object.keys(tree).length === 0) {
    throw new UsageError(`${file}: write an object of mount paths, e.g. {"/cache": {"backend": "redis", "host": "cache:6379"}}`);
  }
  const members: Member[] = [];
  for (const [path, entry] of Object.entries(tree as Record<string, unknown>)) {
    const where = `${file}: ${path}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new UsageError(`${where}: write an object with "backend"`);
    const { backend: name, source, ...rest } = entry as Record<string, unknown>;
    const spec = typeof name === 'string' && name !== 'compose' ? BACKENDS[name] : undefined;
    if (!spec) {
      throw new UsageError(
        `${where}: "backend" must be one of ${Object.keys(BACKENDS)
          .filter((b) => b !== 'compose')
          .join(', ')}`,
      );
    }
    const sources = source === undefined ? [] : [String(source)];
    if (sources.length < spec.arity[0] || sources.length > spec.arity[1]) {
      throw new UsageError(
        spec.arity[1] === 0 ? `${where}: ${name} takes no "source"` : `${where}: ${name} needs "source": ${spec.sources}`,
      );
    }
    const flags: Record<string, string | boolean> = {};
    for (const [key, value] of Object.entries(rest)) {
      const decl = spec.options.find((d) => d.flag === key);
      if (!decl) throw new UsageError(`${where}: ${name} has no option "${key}" (see shylock ${name} --help)`);
      if (decl.type === 'boolean' ? typeof value !== 'boolean' : typeof value !== 'string' && typeof value !== 'number') {
        throw new UsageError(`${where}: "${key}" must be ${decl.type === 'boolean' ? 'true or false' : 'a string or a number'}`);
      }
      flags[key] = decl.type === 'boolean' ? (value as boolean) : String(value);
    }
    try {
      const options = optionsFrom(spec.options, {}, flags, env);
      members.push({ path, backend: spec.make(sources, options, env, mountpoint), spec, options });
    } catch (e) {
      for (const m of members) void m.backend.close().catch(() => undefined);
      if (e instanceof UsageError || (isShylockError(e) && e.code === 'EINVAL')) throw new UsageError(`${where}: ${(e as Error).message}`);
      throw e;
    }
  }
  let backend: Backend;
  try {
    backend = compose(Object.fromEntries(members.map((m) => [m.path, m.backend])));
  } catch (e) {
    for (const m of members) void m.backend.close().catch(() => undefined);
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
  composed.set(backend, members);
  return backend;
}

BACKENDS.compose = {
  summary: 'many backends under one tree, from a JSON file',
  sources: '<tree.json>',
  arity: [1, 1],
  options: [],
  help: `  <tree.json>          the tree: each mount path and its backend, with the backend's flags
                       by name and "source" for the argument before the mountpoint:
                       {"/config": {"backend": "etcd", "endpoints": "http://10.0.0.5:2379"},
                        "/cache":  {"backend": "redis", "host": "cache:6379"},
                        "/photos": {"backend": "s3", "source": "photos/2026"},
                        "/scratch": {"backend": "memory"}}

  Each path lists at the root (nested paths make read-only directories between); a rename from
  one backend to another answers EXDEV (mv copies). Every remote member must answer at start.

Examples:
  shylock compose tree.json /mnt/dc --qos rules.csv --api-port 8080`,
  make: (sources, _options, env, mountpoint) => composeTree(resolve(sources[0]!), env, mountpoint),
  // The kernel keeps attributes as long as the most cautious member asks; listings as briefly.
  mount: (_options, backend) => {
    const settings = (composed.get(backend) ?? []).map((m) =>
      typeof m.spec.mount === 'function' ? m.spec.mount(m.options, m.backend) : (m.spec.mount ?? {}),
    );
    const attr = settings.map((s) => s.attrTimeout ?? 0);
    const listing = settings.flatMap((s) => (s.listingCacheMs === undefined ? [] : [s.listingCacheMs]));
    return {
      attrTimeout: Math.min(...attr, 1),
      ...(listing.length > 0 ? { listingCacheMs: Math.min(...listing) } : {}),
    };
  },
  probe: (backend) => Promise.all((composed.get(backend) ?? []).map((m) => m.spec.probe?.(m.backend))),
};

const COMMON_OPTIONS = {
  qos: { type: 'string' },
  'qos-shared': { type: 'string' },
  'api-port': { type: 'string' },
  'api-host': { type: 'string' },
  'read-only': { type: 'boolean' },
  'allow-other': { type: 'boolean' },
  'no-native-io': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  check: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} satisfies ParseArgsConfig['options'];

/** Every backend's flags, from their declarations, with the backends that own each. */
const BACKEND_FLAGS = new Map<string, { type: 'string' | 'boolean'; owners: string[] }>();
for (const [name, spec] of Object.entries(BACKENDS)) {
  for (const d of spec.options) {
    if (d.flag === undefined) continue;
    const known = BACKEND_FLAGS.get(d.flag);
    if (known) known.owners.push(name);
    else BACKEND_FLAGS.set(d.flag, { type: d.type, owners: [name] });
  }
}

const OPTIONS: ParseArgsConfig['options'] = {
  ...Object.fromEntries([...BACKEND_FLAGS].map(([flag, { type }]) => [flag, { type }])),
  ...COMMON_OPTIONS,
};

const COMMON_HELP = `Options:
  --qos <file>         QoS rules (CSV: path,read_bps,write_bps[,read_ops,write_ops])  [$QOS_FILE]
  --qos-shared <redis://host:port>
                       share every rule's budget, and the rules, with every mount naming
                       this Redis (a fleet under one budget)                        [$QOS_SHARED]
  --api-port <port>    serve the QoS REST API on this port (0 = any free port)       [$HTTP_PORT]
  --api-host <host>    address of the REST API (default 127.0.0.1)
  --read-only          refuse every change with EROFS                              [$ETC_READ_ONLY]
  --allow-other        let other users use the mount (FUSE allow_other)
  --no-native-io       answer every read, write and stat in JavaScript, not on the FUSE threads
  -v, --verbose        log every failed file operation
  --check              check the arguments, options and QoS file, then exit 0 without mounting
  -h, --help           show this help
  -V, --version        show the version

Ctrl-C or SIGTERM unmounts and exits 0; SIGHUP re-reads the QoS file (a bad file keeps the old rules).
Flags win over environment variables.`;

function mainHelp(): string {
  const width = Math.max(...Object.keys(BACKENDS).map((name) => name.length));
  const list = Object.entries(BACKENDS)
    .map(([name, spec]) => `  ${name.padEnd(width)}  ${spec.summary}`)
    .join('\n');
  return `shylock — every distributed resource is a file, and every path can carry a QoS limit

Usage: shylock <backend> [source] <mountpoint> [options]

Backends:
${list}

  shylock docker       serve every backend as Docker volumes (see shylock docker --help)

${COMMON_HELP}

Examples:
  shylock local ./data /mnt/data --qos rules.csv --api-port 8080
  curl -X PUT localhost:8080/key/users/lhj -d '{"read_limit": 1048576}'
  shylock memory /mnt/scratch --streams /events
  ETC_HOSTS=http://10.0.0.5:2379 shylock etcd /mnt/config --prefix /apps --read-only
  REDIS_HOST=cache:6379 shylock redis /mnt/redis && cat /mnt/redis/pubsub/events

See 'shylock <backend> --help' for a backend's own arguments.`;
}

function backendHelp(name: string, spec: BackendSpec): string {
  const own = [...spec.options.filter((d) => d.flag !== undefined).map(optionHelp), ...(spec.help ? ['', spec.help] : [])];
  return `shylock ${name} — mount ${spec.summary}

Usage: shylock ${name} ${spec.sources ? spec.sources + ' ' : ''}<mountpoint> [options]

${own.join('\n').replace(/^\n/, '')}

${COMMON_HELP}`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function parsePort(text: string, from: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`${from} must be a port number from 0 to 65535, got "${text}"`);
  }
  return Number(text);
}

/** What stderr says; tests pass their own. */
export interface Io {
  log(line: string): void;
  out(text: string): void;
}

/** A closed stderr or stdout (its reader gone) must not stop a signal from unmounting. */
const quietly = (write: () => void) => {
  try {
    write();
  } catch {
    // nobody reads
  }
};
const defaultIo: Io = {
  log: (line) => quietly(() => process.stderr.write(`shylock: ${line}\n`)),
  out: (text) => quietly(() => process.stdout.write(text)),
};

/**
 * Runs the command. Resolves with the exit code once the mount is gone: 0 after a clean unmount
 * (Ctrl-C, SIGTERM), 2 for usage errors, 1 for failures.
 */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo): Promise<number> {
  if (argv[0] === 'docker') return runDocker(argv.slice(1), env, io);
  let flags: Flags;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    flags = parsed.values as Flags;
    positionals = parsed.positionals;
  } catch (e) {
    const message = (e as Error).message;
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    const ambiguous = /^Option '(--[\w-]+)[^']*' argument is ambiguous/.exec(message);
    const missing = /^Option '(--[\w-]+)[^']*' argument missing/.exec(message);
    io.log(
      `${
        unknown
          ? `unknown option ${unknown[1]}`
          : ambiguous
            ? `${ambiguous[1]} got a value starting with "-": write it ${ambiguous[1]}=<value>`
            : missing
              ? `${missing[1]} needs a value`
              : message.split('\n')[0]!.replace(/\.$/, '')
      } (see shylock --help)`,
    );
    return 2;
  }
  // `shylock help` and `shylock help <backend>` are --help.
  if (positionals[0] === 'help') {
    positionals.shift();
    flags.help = true;
  }
  const [name, ...rest] = positionals;
  if (flags.version) {
    io.out(`${version()}\n`);
    return 0;
  }
  if (!name) {
    if (flags.help) {
      io.out(mainHelp() + '\n');
      return 0;
    }
    io.log('name a backend and a mountpoint: shylock <backend> [source] <mountpoint> (see shylock --help)');
    return 2;
  }
  const spec = BACKENDS[name];
  if (!spec) {
    io.log(`unknown backend "${name}": choose one of ${Object.keys(BACKENDS).join(', ')} (see shylock --help)`);
    return 2;
  }
  if (flags.help) {
    io.out(backendHelp(name, spec) + '\n');
    return 0;
  }

  let policy: Policy | undefined;
  let api: QosServer | undefined;
  let mounted: Mount | undefined;
  let backend: Backend | undefined;
  let mountedMessage = '';
  try {
    const [min, max] = spec.arity;
    if (rest.length < min + 1 || rest.length > max + 1) {
      throw new UsageError(
        rest.length === 0
          ? `name the mountpoint: shylock ${name} ${spec.sources ? spec.sources + ' ' : ''}<mountpoint>`
          : `too many arguments for ${name}: ${rest.join(' ')} (usage: shylock ${name} ${spec.sources ? spec.sources + ' ' : ''}<mountpoint>)`,
      );
    }
    const mountpoint = resolve(rest[rest.length - 1]!);
    for (const [flag, { owners }] of BACKEND_FLAGS) {
      if (flags[flag] !== undefined && !owners.includes(name)) {
        throw new UsageError(`--${flag} is an option of the ${owners.join(' and ')} backend${owners.length > 1 ? 's' : ''}`);
      }
    }
    const apiPortText = flags['api-port'] ?? env.HTTP_PORT;
    const apiPort =
      apiPortText === undefined || apiPortText === '' ? undefined : parsePort(apiPortText, flags['api-port'] ? '--api-port' : 'HTTP_PORT');
    const qosFile = flags.qos ?? (env.QOS_FILE || undefined);
    let readOnly: boolean;
    try {
      readOnly = flags['read-only'] ?? parseBoolean(env.ETC_READ_ONLY ?? '', 'ETC_READ_ONLY');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }

    let fileRules: QosRule[] = [];
    if (qosFile) {
      try {
        fileRules = await loadQosFile(qosFile);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const sharedText = flags['qos-shared'] ?? (env.QOS_SHARED || undefined);
    let shared: string | undefined;
    if (sharedText !== undefined) {
      try {
        shared = parseRedisUrl(sharedText, flags['qos-shared'] !== undefined ? '--qos-shared' : 'QOS_SHARED');
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    try {
      // With a shared store, rules from a file replace the fleet's; without, the fleet's are taken.
      policy = createPolicy(fileRules, { root: mountpoint, ...(shared ? { shared: { redis: shared } } : {}) });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    await policy.ready();
    let backendOptions: Record<string, unknown>;
    try {
      backendOptions = optionsFrom(spec.options, {}, flags, env);
      backend = spec.make(rest.slice(0, -1), backendOptions, env, mountpoint);
    } catch (e) {
      // A bad option (EINVAL from the backend's factory) is a usage error.
      if (isShylockError(e) && e.code === 'EINVAL') throw new UsageError(e.message);
      throw e;
    }
    if (flags.check) {
      await backend.close().catch(() => undefined);
      await policy.close().catch(() => undefined);
      io.log(`${name} at ${mountpoint}: the arguments are fine (--check: nothing mounted)`);
      return 0;
    }
    await spec.probe?.(backend);
    try {
      mounted = await mount(backend, mountpoint, {
        ...(typeof spec.mount === 'function' ? spec.mount(backendOptions, backend) : spec.mount),
        qos: policy,
        readOnly,
        allowOther: flags['allow-other'] ?? false,
        nativeIo: !flags['no-native-io'],
        // Node's own messages start with the code: it is said once.
        ...(flags.verbose ? { onError: (e, op, path) => io.log(`${op} ${path}: ${e.code} ${e.message.replace(`${e.code}: `, '')}`) } : {}),
      });
    } catch (e) {
      if (isShylockError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) throw new UsageError(e.message);
      throw e;
    }
    for (const warning of await strayRules(fileRules, mountpoint, backend)) io.log(`warning: ${warning}`);
    if (apiPort !== undefined) api = await createQosServer(policy, { port: apiPort, host: flags['api-host'] ?? '127.0.0.1' });
    const rules = policy.rules().length;
    const ruleCount = `${rules} QoS rule${rules === 1 ? '' : 's'}`;
    mountedMessage =
      `mounted ${name} at ${mountpoint}${readOnly ? ' (read-only)' : ''}` +
      `${qosFile ? `, ${ruleCount} from ${qosFile}` : ''}` +
      `${shared ? `, ${qosFile ? 'budgets' : ruleCount} shared through ${sharedText}` : ''}` +
      `${api ? `, QoS API on ${api.url}` : ''}. Ctrl-C unmounts.`;
  } catch (e) {
    await api?.close();
    await mounted?.unmount().catch(() => undefined);
    if (!mounted) await backend?.close().catch(() => undefined);
    await policy?.close().catch(() => undefined);
    if (e instanceof UsageError) {
      io.log(e.message);
      return 2;
    }
    io.log((e as Error).message);
    return 1;
  }

  // Foreground until a signal.
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        io.log(`${signal} again: leaving now, the mount is detached lazily`);
        done(1);
        return;
      }
      stopping = true;
      io.log(`${signal}: unmounting ${mounted!.mountpoint}`);
      try {
        await api?.close();
        await mounted!.unmount();
        await policy!.close();
        io.log('unmounted');
        done(0);
      } catch (e) {
        io.log(`unmount failed: ${(e as Error).message}`);
        done(1);
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        process.off('SIGHUP', onHup);
      }
    };
    const reload = async () => {
      const file = flags.qos ?? env.QOS_FILE;
      if (!file) {
        io.log('SIGHUP: no QoS file to re-read (--qos / QOS_FILE)');
        return;
      }
      try {
        const rules = await loadQosFile(file);
        policy!.replace(rules);
        const count = rules.length;
        io.log(`SIGHUP: ${count} QoS rule${count === 1 ? '' : 's'} from ${file}`);
        for (const warning of await strayRules(rules, mounted!.mountpoint, backend!)) io.log(`warning: ${warning}`);
      } catch (e) {
        io.log(`SIGHUP: kept the old rules: ${(e as Error).message}`);
      }
    };
    // Unmounted from outside (fusermount -u, umount): the mount has closed the backend; leave too.
    void mounted!.closed.then(async () => {
      if (stopping) return;
      stopping = true;
      io.log(`${mounted!.mountpoint} was unmounted from outside: exiting`);
      await api?.close();
      await policy!.close().catch(() => undefined);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onHup);
      done(0);
    });
    const onInt = () => void stop('SIGINT');
    const onTerm = () => void stop('SIGTERM');
    const onHup = () => void reload();
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.on('SIGHUP', onHup);
    // Said only now: whoever waits for this line may send a signal at once.
    io.log(mountedMessage);
  });
}
