import { readFileSync } from 'node:fs';
import { formatQosCsv, parseQosCsv, type QosRule } from '@shylock/qos';

/** A request the plugin refuses: Docker shows `message` to the user (`{"Err": message}`). */
export class VolumeError extends Error {
  /** The HTTP status the plugin answers with: 400 for a malformed request, 500 otherwise. */
  readonly status: number;
  constructor(message: string, status = 500) {
    super(message);
    this.name = 'VolumeError';
    this.status = status;
  }
}

/** A volume's name: Docker's own rule, which also keeps it one path component. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Checks a volume name; throws a VolumeError (400) that says what is wrong. */
export function checkVolumeName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw new VolumeError('the request names no volume ("Name")', 400);
  if (!NAME.test(name) || name.length > 255) {
    throw new VolumeError(`"${name}" is not a volume name: use letters, digits, and _ . - after the first character`, 400);
  }
  return name;
}

/** `-o` options the plugin reads itself; every other one is a flag of the backend's command. */
const QOS_OPTIONS: Record<string, keyof Omit<QosRule, 'path'>> = {
  'qos.read': 'readBytesPerSec',
  'qos.write': 'writeBytesPerSec',
  'qos.read-ops': 'readOpsPerSec',
  'qos.write-ops': 'writeOpsPerSec',
};
const SOURCE_OPTIONS = ['source', 'bucket', 'dir'];
/** Flags the plugin sets, or that make no sense for a volume. */
const NOT_FOR_VOLUMES: Record<string, string> = {
  'allow-other': 'every volume is mounted with allow_other (containers run as any user)',
  check: 'the plugin checks every volume when it is created',
  help: 'see shylock <backend> --help for the options',
  version: 'see shylock --version',
  verbose: 'the plugin logs what each volume reports',
  v: 'the plugin logs what each volume reports',
  h: 'see shylock <backend> --help for the options',
  V: 'see shylock --version',
};

/**
 * What a volume's `-o` options ask for: the backend, the arguments before the mountpoint, the
 * flags after it, a QoS rule over the whole volume, a rules file, and a file of environment
 * variables (secrets) for the mount.
 */
export interface VolumePlan {
  backend: string;
  sources: string[];
  flags: string[];
  /** The rule over the whole volume (`-o qos.read=1MiB …`), path `/`; undefined if none. */
  rule?: QosRule;
  /** `-o qos=FILE`: more rules, paths inside the volume (`/cache/,4MiB,0`). */
  qosFile?: string;
  /** `-o env-file=FILE`: KEY=VALUE lines, given to the mount's environment. */
  envFile?: string;
}

/**
 * Reads a volume's `-o` options. `backend` is required; `source` (or `bucket`, `dir`) is the
 * argument before the mountpoint (a directory, a bucket); `qos.read`, `qos.write`,
 * `qos.read-ops`, `qos.write-ops` limit the whole volume; `qos` names a rules file; `env-file`
 * a file of environment variables; every other `name=value` is the backend's `--name value`
 * (`name=true` or `name=` is the flag alone, `name=false` leaves it out).
 *
 * @throws VolumeError (400) naming the option to fix.
 */
export function planVolume(options: Record<string, unknown> | null | undefined): VolumePlan {
  const given = options ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) throw new VolumeError('"Opts" must be an object of name=value options', 400);
  const text: Record<string, string> = {};
  for (const [key, value] of Object.entries(given)) {
    if (typeof value !== 'string') throw new VolumeError(`-o ${key}: the value must be a string`, 400);
    text[key] = value;
  }
  const backend = text.backend;
  if (backend === undefined || backend === '') {
    throw new VolumeError('name the backend: -o backend=<local|memory|etcd|redis|kafka|s3|gcs|gdrive|sqs|zookeeper|compose>', 400);
  }
  if (!/^[a-z][a-z0-9-]*$/.test(backend)) throw new VolumeError(`-o backend=${backend} is not a backend name`, 400);
  const plan: VolumePlan = { backend, sources: [], flags: [] };
  const rule: QosRule = { path: '/' };
  const sources = SOURCE_OPTIONS.filter((k) => text[k] !== undefined);
  if (sources.length > 1) throw new VolumeError(`-o ${sources.join(' and -o ')} both name the source: give one`, 400);
  for (const [key, value] of Object.entries(text)) {
    if (key === 'backend') continue;
    if (SOURCE_OPTIONS.includes(key)) {
      if (value === '') throw new VolumeError(`-o ${key}= is empty`, 400);
      plan.sources.push(value);
    } else if (key in QOS_OPTIONS) {
      rule[QOS_OPTIONS[key]!] = amount(key, value);
    } else if (key === 'qos') {
      plan.qosFile = value;
    } else if (key === 'env-file') {
      plan.envFile = value;
    } else if (key.startsWith('qos.')) {
      throw new VolumeError(`unknown option -o ${key}: the QoS options are ${Object.keys(QOS_OPTIONS).join(', ')} and qos=<file>`, 400);
    } else if (key in NOT_FOR_VOLUMES) {
      throw new VolumeError(`-o ${key} is not a volume option: ${NOT_FOR_VOLUMES[key]}`, 400);
    } else {
      if (!/^[a-z][a-z0-9-]*$/.test(key)) throw new VolumeError(`-o ${key}: option names are lowercase words joined by -`, 400);
      if (value === 'true' || value === '') plan.flags.push(`--${key}`);
      else if (value !== 'false') plan.flags.push(`--${key}=${value}`);
    }
  }
  if (Object.keys(rule).length > 1) plan.rule = rule;
  if (plan.envFile !== undefined) readEnvFile(plan.envFile);
  return plan;
}

/** One QoS amount (`1MiB`, `200`), read as the rules file reads it. */
function amount(key: string, value: string): number {
  try {
    const [rule] = parseQosCsv(`/,${value.includes(',') ? '"' + value + '"' : value},0`, key);
    return rule?.readBytesPerSec ?? 0;
  } catch (e) {
    throw new VolumeError(`-o ${key}=${value}: ${(e as Error).message.replace(/^.*?:\d+:\d+: read_bps /, '')}`, 400);
  }
}

/**
 * The QoS rules file a volume's mount reads: the rules of `-o qos=FILE` (read now, so a change
 * to the file applies at the next mount) and the rule over the whole volume, which wins for `/`.
 */
export function volumeRules(plan: VolumePlan): string | undefined {
  const rules: QosRule[] = [];
  if (plan.qosFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(plan.qosFile, 'utf8');
    } catch (e) {
      throw new VolumeError(
        `-o qos=${plan.qosFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      );
    }
    try {
      rules.push(...parseQosCsv(text, plan.qosFile));
    } catch (e) {
      throw new VolumeError(`-o qos=${plan.qosFile}: ${(e as Error).message}`);
    }
  }
  if (plan.rule) {
    const i = rules.findIndex((r) => r.path === '/');
    if (i >= 0) rules.splice(i, 1);
    rules.push(plan.rule);
  }
  return rules.length > 0 ? formatQosCsv(rules) : undefined;
}

/**
 * Reads a file of environment variables: `NAME=value` a line, blank lines and `#` comments
 * skipped, `export ` allowed, a value in single or double quotes taken as is.
 *
 * @throws VolumeError naming the file and the line.
 */
export function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VolumeError(
      `-o env-file=${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable' : (e as Error).message}`,
      400,
    );
  }
  const env: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new VolumeError(`-o env-file=${file}: line ${i + 1} is not NAME=value`, 400);
    let value = m[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    env[m[1]!] = value;
  });
  return env;
}
