import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isShylockError, type QosRule } from '@shylock/core';
import type { ClusterUsage, Policy } from './policy.js';

/** Options of {@link createQosServer}. */
export interface QosServerOptions {
  /** TCP port; 0 picks a free one (default 0). */
  port?: number;
  /** Address to bind (default `127.0.0.1`: only this machine may change limits). */
  host?: string;
  /** Largest request body accepted, bytes (default 64 KiB); larger ones get 413. */
  maxBodyBytes?: number;
}

/** A running control API. */
export interface QosServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

/** The JSON form of a rule, with the field names of the original API. */
interface RuleJson {
  key: string;
  read_limit: number;
  write_limit: number;
  read_ops_limit: number;
  write_ops_limit: number;
}

const FIELDS: Record<string, keyof QosRule> = {
  read_limit: 'readBytesPerSec',
  write_limit: 'writeBytesPerSec',
  read_ops_limit: 'readOpsPerSec',
  write_ops_limit: 'writeOpsPerSec',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function toJson(rule: QosRule): RuleJson {
  return {
    key: rule.path,
    read_limit: rule.readBytesPerSec ?? 0,
    write_limit: rule.writeBytesPerSec ?? 0,
    read_ops_limit: rule.readOpsPerSec ?? 0,
    write_ops_limit: rule.writeOpsPerSec ?? 0,
  };
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, `the body is over ${limit} bytes`);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `the body is over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a rule body: a JSON object with `key` (optional) and the limit fields. */
function parseRule(text: string, urlKey: string, current: QosRule | undefined): QosRule {
  let body: unknown;
  try {
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'the body must be a JSON object such as {"read_limit": 1048576}');
  }
  const record = body as Record<string, unknown>;
  let key = urlKey;
  if (record.key !== undefined) {
    if (typeof record.key !== 'string' || record.key.trim() === '') throw new HttpError(400, '"key" must be a non-empty path');
    if (urlKey !== '/' && record.key.replace(/\/+$/, '') !== urlKey.replace(/\/+$/, '')) {
      throw new HttpError(400, `"key" (${record.key}) differs from the path in the URL (${urlKey})`);
    }
    key = record.key;
  }
  if (key === '/' && urlKey === '/' && record.key === undefined) {
    throw new HttpError(400, 'name the rule: /key/<path> in the URL or "key" in the body');
  }
  const rule: QosRule = { ...(current ?? {}), path: key };
  for (const [name, value] of Object.entries(record)) {
    if (name === 'key') continue;
    const field = FIELDS[name];
    if (!field) {
      throw new HttpError(400, `unknown field "${name}": use key, ${Object.keys(FIELDS).join(', ')}`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new HttpError(400, `"${name}" must be a non-negative number (0 = unlimited), got ${JSON.stringify(value)}`);
    }
    (rule as unknown as Record<string, number>)[field] = value;
  }
  return rule;
}

/** Prometheus label value escaping. */
const label = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * Per-rule counters in the Prometheus text format; with `cluster` (a shared policy's
 * `clusterUsage()`), the whole fleet's use of each rule beside this process's own.
 */
export function formatMetrics(policy: Policy, cluster?: ClusterUsage[]): string {
  const stats = policy.stats();
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, value: (s: (typeof stats)[number], d: 'read' | 'write') => number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of stats) {
      for (const d of ['read', 'write'] as const) {
        lines.push(`${name}{path="${label(s.path)}",direction="${d}"} ${value(s, d)}`);
      }
    }
  };
  metric('shylock_qos_bytes_total', 'counter', 'Bytes granted under the rule.', (s, d) => s[d].bytes);
  metric('shylock_qos_ops_total', 'counter', 'Operations granted under the rule.', (s, d) => s[d].ops);
  metric('shylock_qos_wait_seconds_total', 'counter', 'Time requests waited for the rule.', (s, d) => s[d].waitSeconds);
  metric('shylock_qos_queued', 'gauge', 'Requests waiting for the rule now.', (s, d) => s[d].queued);
  const rules = new Map(policy.rules().map((r) => [r.path, r]));
  metric(
    'shylock_qos_limit_bytes_per_second',
    'gauge',
    'Configured byte rate (0 = unlimited).',
    (s, d) => (d === 'read' ? rules.get(s.path)?.readBytesPerSec : rules.get(s.path)?.writeBytesPerSec) ?? 0,
  );
  metric(
    'shylock_qos_limit_ops_per_second',
    'gauge',
    'Configured op rate (0 = unlimited).',
    (s, d) => (d === 'read' ? rules.get(s.path)?.readOpsPerSec : rules.get(s.path)?.writeOpsPerSec) ?? 0,
  );
  if (cluster) {
    const used = new Map(cluster.map((c) => [c.path, c]));
    metric(
      'shylock_qos_cluster_bytes_total',
      'counter',
      'Bytes leased under the rule by every process sharing it (unused leases given back).',
      (s, d) => used.get(s.path)?.[d].bytes ?? 0,
    );
    metric(
      'shylock_qos_cluster_ops_total',
      'counter',
      'Operations leased under the rule by every process sharing it (unused leases given back).',
      (s, d) => used.get(s.path)?.[d].ops ?? 0,
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * Serves the QoS control API for `policy`:
 *
 * - `GET /key/` — every rule; `GET /key/<path>` — one rule (404 if none)
 * - `POST /key/<path>` — create (409 if it exists); `PUT /key/<path>` — change the fields given
 *   (404 if none); `DELETE /key/<path>` — remove (404 if none)
 * - `GET /metrics` — bytes, ops and wait seconds per rule, Prometheus text format (a shared
 *   policy adds the fleet's use of each rule)
 *
 * Bodies are JSON: `{"key": "/mnt/b/foo/", "read_limit": 10, "write_limit": 10,
 * "read_ops_limit": 0, "write_ops_limit": 0}` (bytes and operations per second, 0 = unlimited).
 * Errors answer `{"error": "..."}`: 400 bad JSON or values, 404, 405, 409, 413 bodies over the limit.
 * Changes apply at once, also to open files.
 */
export async function createQosServer(policy: Policy, options: QosServerOptions = {}): Promise<QosServer> {
  const limit = options.maxBodyBytes ?? 64 * 1024;
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body) + '\n';
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (url.pathname === '/metrics') {
      if (method !== 'GET') throw new HttpError(405, 'only GET /metrics');
      const text = formatMetrics(policy, policy.shared ? await policy.clusterUsage() : undefined);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text);
      return;
    }
    if (url.pathname !== '/key' && !url.pathname.startsWith('/key/')) {
      throw new HttpError(404, 'the API lives under /key/<path> and /metrics');
    }
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.slice('/key'.length)) || '/';
    } catch {
      throw new HttpError(400, 'the path in the URL is not valid percent-encoding');
    }
    if (key === '/' && method === 'GET') return send(res, 200, policy.rules().map(toJson));
    const existing = key === '/' ? undefined : policy.get(key);
    switch (method) {
      case 'GET':
        if (!existing) throw new HttpError(404, `there is no rule for ${key}`);
        return send(res, 200, toJson(existing));
      case 'POST': {
        const rule = parseRule(await readBody(req, limit), key, undefined);
        if (policy.get(rule.path)) throw new HttpError(409, `a rule for ${rule.path} exists: use PUT to change it`);
        return send(res, 201, toJson(policy.add(rule)));
      }
      case 'PUT': {
        const text = await readBody(req, limit);
        const target = parseRule(text, key, undefined).path;
        const current = policy.get(target);
        if (!current) throw new HttpError(404, `there is no rule for ${target}: use POST to create it`);
        return send(res, 200, toJson(policy.update(parseRule(text, key, current))));
      }
      case 'DELETE':
        if (!existing || !policy.remove(key)) throw new HttpError(404, `there is no rule for ${key}`);
        return send(res, 200, toJson(existing));
      default:
        throw new HttpError(405, `${method} is not supported: use GET, POST, PUT or DELETE`);
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : isShylockError(error) && error.code === 'EINVAL' ? 400 : 500;
      if (!res.headersSent) send(res, status, { error: (error as Error).message });
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
