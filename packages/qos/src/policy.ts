import {
  isUnder,
  normalizePath,
  ShylockError,
  type AccessKind,
  type AcquireOptions,
  type Limits,
  type QosBinding,
  type QosPolicy,
  type QosRule,
} from '@shylock/core';
import { checkBurst, checkRate, createLimiter, type Limiter, type LimiterStats } from './limiter.js';
import { SharedStore, type SharedOptions, type SharedUsage } from './shared.js';
import { SharedLimiter } from './shared-limiter.js';

/** Options of {@link createPolicy}. */
export interface PolicyOptions {
  /**
   * The mountpoint the rules may be written under. A rule path beneath it (`/mnt/b/foo/`) is
   * stored relative to it (`/foo`), so rules match whether they name the mountpoint or not.
   */
  root?: string;
  /**
   * Share every rule's budget — and the rules themselves — with every process (on any host)
   * naming the same Redis and namespace. Rules given here replace the shared ones; with none,
   * the shared ones are adopted. See the README's "One budget for a fleet".
   */
  shared?: SharedOptions;
}

/** A rule's cluster-wide use: what every process sharing it leased, read and write. */
export interface ClusterUsage {
  path: string;
  read: SharedUsage;
  write: SharedUsage;
}

/** Per-rule counters, for metrics. */
export interface RuleStats {
  path: string;
  read: LimiterStats;
  write: LimiterStats;
}

/** Something that can be waited on for bytes: a {@link Limiter} or a policy bound to a path. */
export interface Acquirer {
  acquire(bytes?: number, options?: AcquireOptions): Promise<void>;
}

/** A live set of QoS rules. */
export interface Policy extends QosPolicy {
  /** The rule stored under `path` (after root stripping), or undefined. */
  get(path: string): QosRule | undefined;
  /** Every rule, sorted by path. */
  rules(): QosRule[];
  /** Adds a rule. Rejects EEXIST when one exists at that path, EINVAL for bad limits. */
  add(rule: QosRule): QosRule;
  /** Changes an existing rule; the new rates apply to waiters at once. Rejects ENOENT. */
  update(rule: QosRule): QosRule;
  /** Adds or changes a rule. */
  set(rule: QosRule): QosRule;
  /** Removes a rule; its waiters are released. Returns false when there was none. */
  remove(path: string): boolean;
  /**
   * Replaces every rule at once (a reloaded file). Everything is validated before anything
   * changes; rules at unchanged paths keep their state.
   */
  replace(rules: QosRule[]): void;
  /** This policy for one path and kind, rules looked up once: for open files and {@link throttle}. */
  bind(path: string, kind: AccessKind): QosBinding;
  /** Counters per rule. */
  stats(): RuleStats[];
  /** The key a rule path is stored under: normalised, mountpoint stripped. */
  keyOf(path: string): string;
  /** True when budgets are shared through Redis. */
  readonly shared: boolean;
  /**
   * Resolves once a shared policy has synchronised its rules with the others (or found Redis
   * away); at once for a local one. Rejects when the shared store cannot be used at all.
   */
  ready(): Promise<void>;
  /** The cluster's use of each rule, summed over every process (empty unless shared and reachable). */
  clusterUsage(): Promise<ClusterUsage[]>;
  /** Releases every waiter; a shared policy gives back unused credit and disconnects. */
  close(): Promise<void>;
}

interface Entry {
  rule: QosRule;
  read: Limiter;
  write: Limiter;
}

const RESOLVED: Promise<void> = Promise.resolve();
const LIMIT_FIELDS = ['readBytesPerSec', 'writeBytesPerSec', 'readOpsPerSec', 'writeOpsPerSec'] as const;

/**
 * Checks a rule and returns its canonical form.
 *
 * @throws ShylockError `EINVAL` naming the bad field: an empty path, a negative, NaN or
 *   non-numeric limit, a bad burst.
 */
export function validateRule(rule: QosRule): QosRule {
  if (typeof rule !== 'object' || rule === null) {
    throw new ShylockError('EINVAL', 'a QoS rule must be an object with a path and limits');
  }
  if (typeof rule.path !== 'string' || rule.path.trim() === '') {
    throw new ShylockError('EINVAL', 'a QoS rule needs a non-empty path, such as "/users/lhj/"');
  }
  const out: QosRule = { path: normalizePath(rule.path.trim(), 'qos rule') };
  for (const field of LIMIT_FIELDS) {
    const value = checkRate(rule[field], `${field} of the rule for ${rule.path}`);
    if (value > 0) out[field] = value;
  }
  const burst = checkBurst(rule.burst, `burst of the rule for ${rule.path}`);
  if (burst !== undefined) out.burst = burst;
  return out;
}

function limiterOptions(rule: Limits, kind: AccessKind) {
  return kind === 'read'
    ? { bytesPerSecond: rule.readBytesPerSec ?? 0, opsPerSecond: rule.readOpsPerSec ?? 0, burst: rule.burst }
    : { bytesPerSecond: rule.writeBytesPerSec ?? 0, opsPerSecond: rule.writeOpsPerSec ?? 0, burst: rule.burst };
}

/**
 * Makes a policy of path rules. A rule's budget is shared by everything under its path (whole
 * segments); every matching rule applies, innermost first, so a child can't exceed its parent.
 * A lookup walks the request path's prefixes: O(depth), whatever the number of rules.
 *
 * ```ts
 * const policy = createPolicy([{ path: '/users/lhj/', readBytesPerSec: 512 << 10 }]);
 * await policy.acquire('/users/lhj/report.csv', 'read', 4096);
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad rule or two rules for one path.
 */
export function createPolicy(rules: QosRule[] = [], options: PolicyOptions = {}): Policy {
  const root = options.root === undefined ? undefined : normalizePath(options.root, 'policy root');
  const table = new Map<string, Entry>();
  let deepest = 0;
  /** Bumped when rules are added or removed, so bindings know to look again. */
  let version = 0;

  const keyOf = (path: string): string => {
    const p = normalizePath(typeof path === 'string' ? path.trim() : path, 'qos rule');
    if (root && root !== '/' && isUnder(p, root)) return p.slice(root.length) || '/';
    return p;
  };
  const depthOf = (key: string) => (key === '/' ? 0 : key.split('/').length - 1);
  const recomputeDepth = () => {
    deepest = 0;
    for (const key of table.keys()) deepest = Math.max(deepest, depthOf(key));
  };
  const canonical = (rule: QosRule): [string, QosRule] => {
    const valid = validateRule(rule);
    const key = keyOf(valid.path);
    return [key, { ...valid, path: key }];
  };
  const store = options.shared ? new SharedStore(options.shared) : undefined;
  const limiter = (key: string, rule: QosRule, kind: AccessKind): Limiter =>
    store ? new SharedLimiter(store, `${kind}:${key}`, limiterOptions(rule, kind)) : createLimiter(limiterOptions(rule, kind));
  const insert = (key: string, rule: QosRule) => {
    table.set(key, { rule, read: limiter(key, rule, 'read'), write: limiter(key, rule, 'write') });
    deepest = Math.max(deepest, depthOf(key));
    version++;
  };
  const change = (entry: Entry, rule: QosRule) => {
    entry.rule = rule;
    entry.read.update(limiterOptions(rule, 'read'));
    entry.write.update(limiterOptions(rule, 'write'));
  };
  const listeners = new Set<() => void>();
  /** After a change of the rules: the listeners, e.g. a mount dropping prepaid I/O credit. */
  const changed = () => {
    for (const listener of listeners) listener();
  };

  /** The entries matching `path`, innermost first. */
  const match = (path: string): Entry[] => {
    const out: Entry[] = [];
    if (table.size === 0) return out;
    let p = path;
    // Only prefixes as deep as the deepest rule can match.
    let depth = 0;
    for (let i = 1; i < p.length; i++) if (p.charCodeAt(i) === 47) depth++;
    if (p !== '/') depth++;
    while (depth > deepest) {
      p = p.slice(0, p.lastIndexOf('/')) || '/';
      depth--;
    }
    for (;;) {
      const entry = table.get(p);
      if (entry) out.push(entry);
      if (p === '/') return out;
      p = p.slice(0, p.lastIndexOf('/')) || '/';
    }
  };

  const acquire = (path: string, kind: AccessKind, bytes: number, o?: AcquireOptions): Promise<void> => {
    if (table.size === 0) return RESOLVED;
    if (path.charCodeAt(0) !== 47 || path.includes('//') || path.includes('/.')) path = normalizePath(path, 'acquire');
    const entries = match(path);
    if (entries.length === 0) return RESOLVED;
    if (entries.length === 1) return entries[0]![kind].acquire(bytes, o);
    return (async () => {
      for (const entry of entries) await entry[kind].acquire(bytes, o);
    })();
  };

  /** Replaces every rule, all validated before anything changes. */
  const applyAll = (next: QosRule[]) => {
    const prepared = new Map<string, QosRule>();
    for (const rule of next) {
      const [key, valid] = canonical(rule);
      if (prepared.has(key)) throw new ShylockError('EINVAL', `two QoS rules for the path ${key}: keep one`);
      prepared.set(key, valid);
    }
    for (const [key, entry] of table) {
      if (!prepared.has(key)) {
        table.delete(key);
        entry.read.release();
        entry.write.release();
      }
    }
    for (const [key, rule] of prepared) {
      const entry = table.get(key);
      if (entry) change(entry, rule);
      else insert(key, rule);
    }
    recomputeDepth();
    version++;
    changed();
  };

  // Shared rules: changes made here are written through to Redis in order; others' changes are
  // read back when they say so. A change that could not be written (Redis away) marks the rules
  // dirty: this process's rules are written whole when Redis is back. Last change wins.
  let chain: Promise<unknown> = Promise.resolve();
  let dirty = false;
  const serial = (work: () => Promise<unknown>) => {
    chain = chain.then(work).catch(() => undefined);
    return chain;
  };
  const share = (change: { set?: QosRule[]; remove?: string[]; replace?: QosRule[] }) => {
    if (!store) return;
    void serial(async () => {
      if (!(await store.writeRules(dirty ? { replace: [...table.values()].map((e) => e.rule) } : change))) dirty = true;
      else dirty = false;
    });
  };
  /** Another process changed the rules: take them. */
  const adopt = async () => {
    const remote = await store!.loadRules();
    if (!remote) return;
    try {
      applyAll(remote);
    } catch (e) {
      store!.log(`the shared QoS rules were not applied: ${(e as Error).message}`);
    }
  };
  /** Connected (again): write ours when they are newer or Redis lost the rules, else take theirs. */
  const reconcile = async () => {
    if (dirty || (table.size > 0 && (await store!.loadRules())?.length === 0)) {
      if (await store!.writeRules({ replace: [...table.values()].map((e) => e.rule) })) dirty = false;
      return;
    }
    await adopt();
  };

  const seen = new Set<string>();
  for (const rule of rules) {
    const [key, valid] = canonical(rule);
    if (seen.has(key)) throw new ShylockError('EINVAL', `two QoS rules for the path ${key}: keep one`);
    seen.add(key);
    insert(key, valid);
  }

  let initial: Promise<void> = Promise.resolve();
  if (store) {
    const given = rules.length > 0;
    initial = (async () => {
      await store.ready();
      await serial(async () => {
        if (given) {
          if (!(await store.writeRules({ replace: [...table.values()].map((e) => e.rule) }))) dirty = true;
        } else await adopt();
      });
      store.onUp(() => void serial(reconcile));
      await store.watchRules(
        () => void serial(adopt),
        () => void serial(reconcile),
      );
    })();
    // Seen by whoever awaits ready(); the limiters work without it.
    initial.catch(() => undefined);
  }

  return {
    get empty() {
      return table.size === 0;
    },
    acquire,
    keyOf,
    get(path) {
      return table.get(keyOf(path))?.rule;
    },
    rules() {
      return [...table.values()].map((e) => e.rule).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },
    add(rule) {
      const [key, valid] = canonical(rule);
      if (table.has(key)) throw new ShylockError('EEXIST', `a QoS rule for ${key} exists: update it instead`);
      insert(key, valid);
      changed();
      share({ set: [valid] });
      return valid;
    },
    update(rule) {
      const [key, valid] = canonical(rule);
      const entry = table.get(key);
      if (!entry) throw new ShylockError('ENOENT', `there is no QoS rule for ${key}`);
      change(entry, valid);
      changed();
      share({ set: [valid] });
      return valid;
    },
    set(rule) {
      const [key, valid] = canonical(rule);
      const entry = table.get(key);
      if (entry) change(entry, valid);
      else insert(key, valid);
      changed();
      share({ set: [valid] });
      return valid;
    },
    remove(path) {
      const key = keyOf(path);
      const entry = table.get(key);
      if (!entry) return false;
      table.delete(key);
      entry.read.release();
      entry.write.release();
      recomputeDepth();
      version++;
      changed();
      share({ remove: [key] });
      return true;
    },
    replace(next) {
      applyAll(next);
      share({ replace: [...table.values()].map((e) => e.rule) });
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    bind(path, kind) {
      const p = normalizePath(path, 'bind');
      let seen = -1;
      let limiters: Limiter[] = [];
      const current = () => {
        if (seen !== version) {
          limiters = match(p).map((e) => e[kind]);
          seen = version;
        }
        return limiters;
      };
      const binding: QosBinding = {
        acquire(bytes = 0, o) {
          const ls = current();
          if (ls.length === 0) return RESOLVED;
          if (ls.length === 1) return ls[0]!.acquire(bytes, o);
          return (async () => {
            for (const l of ls) await l.acquire(bytes, o);
          })();
        },
        tryAcquire(bytes = 0, ops = 1, borrow = true) {
          const ls = current();
          // With nested rules a partial take can't be undone: those wait in acquire().
          return ls.length === 0 || (ls.length === 1 && ls[0]!.tryAcquire(bytes, ops, borrow));
        },
        refund(bytes, ops) {
          // What tryAcquire took came from the one limiter of the rules as they were then.
          if (seen === version && limiters.length === 1) limiters[0]!.refund(bytes, ops);
        },
      };
      return binding;
    },
    stats() {
      return [...table.values()].map((e) => ({ path: e.rule.path, read: e.read.stats(), write: e.write.stats() }));
    },
    shared: !!store,
    ready: () => initial,
    async clusterUsage() {
      if (!store) return [];
      const usage = await store.usage();
      const none = { bytes: 0, ops: 0 };
      return [...table.keys()].map((key) => ({
        path: key,
        read: usage.get(`read:${key}`) ?? none,
        write: usage.get(`write:${key}`) ?? none,
      }));
    },
    async close() {
      for (const entry of table.values()) {
        await entry.read.close();
        await entry.write.close();
      }
      await chain;
      await store?.close();
    },
  };
}
