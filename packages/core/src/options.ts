import { ShylockError } from './errors.js';

/**
 * One option of a backend, declared once: the factory's option, its command-line flag, the
 * environment variable that sets it, its help line and how text becomes its value. The backend
 * reads its environment through {@link optionsFrom}; the `shylock` command builds its flags,
 * their owners and `--help` from the same declarations.
 */
export interface OptionDecl {
  /** The factory's option: `endpoints`. */
  readonly key: string;
  /** The command-line flag, without the dashes: `endpoints`. None: set by the caller or the environment only. */
  readonly flag?: string;
  /** The environment variable that sets it when neither the caller nor the flag does. */
  readonly env?: string;
  /** A flag with a value (`string`), or a switch (`boolean`). */
  readonly type: 'string' | 'boolean';
  /** The value's placeholder in help: `<urls>`. */
  readonly value?: string;
  /** The default, as help shows it. */
  readonly default?: string;
  /** One line of help. */
  readonly help: string;
  /** Text (a flag's value or the environment's) → the option's value; throws EINVAL saying what to give. */
  readonly parse?: (text: string, from: string) => unknown;
}

/** true/1/yes/on or false/0/no/off (any case); anything else is EINVAL naming where it came from. */
export function parseBoolean(text: string, from: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(t)) return false;
  throw new ShylockError('EINVAL', `${from} must be true or false (1/0, yes/no, on/off), got "${text}"`);
}

/** A non-negative whole number, or EINVAL naming where it came from. */
export function parseCount(text: string, from: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ShylockError('EINVAL', `${from} must be a whole number, got "${text}"`);
  return Number(text.trim());
}

/**
 * Size units, lower-cased: K, M, G and KiB, MiB, GiB are 1024s; kB, MB, GB are 1000s; none is
 * bytes. The QoS file and every size option read amounts with them.
 */
export const SIZE_UNITS: Readonly<Record<string, number>> = Object.freeze({
  '': 1,
  k: 1024,
  ki: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
});

/** A whole number of bytes: `8388608`, `8M`, `8MiB`, `512K` (see {@link SIZE_UNITS}), or EINVAL naming where it came from. */
export function parseSize(text: string, from: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (m && unit === undefined) {
    throw new ShylockError(
      'EINVAL',
      `${from} "${text}": unknown unit "${m[2]}" (use K, M, G or KiB, MiB, GiB for 1024s; kB, MB, GB for 1000s)`,
    );
  }
  const value = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new ShylockError('EINVAL', `${from} must be a size such as 8388608, 8M or 8MiB, got "${text}"`);
  return value;
}

/** A comma-separated list, empty items dropped. */
export function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The options a caller did not give, from flags (keyed by flag name) and then the environment,
 * each parsed by its declaration. What the caller gave always wins.
 */
export function optionsFrom(
  decls: readonly OptionDecl[],
  given: Record<string, unknown> = {},
  flags: Record<string, string | boolean | undefined> = {},
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const d of decls) {
    if (given[d.key] !== undefined) continue;
    const flag = d.flag === undefined ? undefined : flags[d.flag];
    if (flag !== undefined) {
      out[d.key] = typeof flag === 'boolean' ? flag : d.parse ? d.parse(flag, `--${d.flag}`) : flag;
    } else if (d.env && env[d.env] !== undefined && env[d.env] !== '') {
      const text = env[d.env]!;
      out[d.key] = d.parse ? d.parse(text, d.env) : d.type === 'boolean' ? parseBoolean(text, d.env) : text;
    }
  }
  return out;
}

/** The `--timeout <ms>` option of a backend that waits on a server (`timeoutMs`, default 3000). */
export function timeoutOption(what: string, defaultMs = 3000): OptionDecl {
  return {
    key: 'timeoutMs',
    flag: 'timeout',
    type: 'string',
    value: '<ms>',
    default: String(defaultMs),
    help: `milliseconds before ${what} answers ETIMEDOUT`,
    parse: (text, from) => parseCount(text, from),
  };
}

/** A declaration's help line: `  --endpoints <urls>   what it is (default $ETC_HOSTS or …)`. */
export function optionHelp(d: OptionDecl): string {
  const name = d.flag === undefined ? `$${d.env}` : `--${d.flag}${d.value ? ` ${d.value}` : ''}`;
  const where = [d.env ? `$${d.env}` : undefined, d.default].filter(Boolean).join(' or ');
  // Names longer than the column keep two spaces before their help.
  return `  ${name.length < 20 ? `${name.padEnd(20)} ` : `${name}  `}${d.help}${where ? ` (default ${where})` : ''}`;
}
