import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { normalizePath } from '@shylock/core';
import { throttle, type Policy } from '@shylock/qos';

/** Options of {@link createFileServer}. */
export interface FileServerOptions {
  /** The directory served. */
  root: string;
  /** Rules on `/users/<name>/<file>` paths: a rule on `/users/<name>` caps everything that user downloads. */
  policy: Policy;
}

/**
 * An HTTP file server: `GET /<user>/<file>` sends `<root>/<file>`, throttled by the policy rules
 * on `/users/<user>/<file>`. Every download of one user shares that user's budget.
 */
export function createFileServer({ root, policy }: FileServerOptions): Server {
  return createServer(async (req, res) => {
    const fail = (status: number, error: string) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error }) + '\n');
    };
    if (req.method !== 'GET') return fail(405, 'only GET is served');
    let path: string;
    try {
      path = normalizePath(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    } catch (e) {
      return fail(400, (e as Error).message);
    }
    const [, user, ...rest] = path.split('/');
    if (!user || rest.length === 0) return fail(404, 'ask for /<user>/<file>');
    const file = join(root, ...rest);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return fail(404, `no file ${rest.join('/')}`);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': info.size });
    const budget = policy.bind(`/users/${user}/${rest.join('/')}`, 'read');
    await pipeline(createReadStream(file), throttle(budget), res).catch(() => res.destroy());
  });
}
