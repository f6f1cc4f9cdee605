import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Options of {@link httpClient}. */
export interface HttpClientOptions {
  /** Milliseconds a connection or an idle response may take before the request fails with ETIMEDOUT. */
  timeoutMs: number;
  /** Headers that authorize a request to `url` (a bearer token); none when absent. */
  auth?: (url: string) => Promise<Record<string, string> | Headers | unknown>;
  /** Connections kept per host (default 64). */
  maxSockets?: number;
}

/**
 * Plain HTTP(S) requests over a keep-alive connection pool, with an adapter's credentials: what
 * Google's stores (Cloud Storage, Drive) send beside their client libraries — ranged downloads
 * and resumable upload chunks, which those libraries do not stream as a file system needs.
 */
export function httpClient(options: HttpClientOptions) {
  const max = options.maxSockets ?? 64;
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: max }), https: new HttpsAgent({ keepAlive: true, maxSockets: max }) };
  /** Auth headers as a plain object, whatever form the credentials library gives them in. */
  const authHeaders = async (url: string): Promise<Record<string, string>> => {
    const h = options.auth ? await options.auth(url) : {};
    const out: Record<string, string> = {};
    if (h instanceof Headers) h.forEach((v, k) => (out[k] = v));
    else Object.assign(out, h as Record<string, string>);
    return out;
  };
  /** Reads a response's body as text. */
  const text = async (res: IncomingMessage): Promise<string> => {
    const parts: Buffer[] = [];
    for await (const c of res) parts.push(c as Buffer);
    return Buffer.concat(parts).toString('utf8');
  };
  return {
    /** One request; resolves with the response, whatever its status. */
    async send(
      method: string,
      url: string,
      headers: Record<string, string>,
      body?: Uint8Array,
      signal?: AbortSignal,
    ): Promise<IncomingMessage> {
      const auth = await authHeaders(url);
      const u = new URL(url);
      const https = u.protocol === 'https:';
      return new Promise((resolve, reject) => {
        const req = (https ? httpsRequest : httpRequest)(
          u,
          {
            method,
            agent: https ? agents.https : agents.http,
            headers: { ...auth, ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) },
            ...(signal ? { signal } : {}),
          },
          resolve,
        );
        req.setTimeout(options.timeoutMs, () =>
          req.destroy(Object.assign(new Error(`no answer in ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' })),
        );
        req.once('error', reject);
        req.end(body);
      });
    },
    text,
    /**
     * A response that is not a success, as an Error carrying `code` and `status` (the HTTP
     * status) and Google's `errors` list, for the adapter's error mapping.
     */
    async failure(res: IncomingMessage): Promise<Error> {
      const body = await text(res).catch(() => '');
      let parsed: { error?: { message?: string; errors?: { reason?: string; message?: string }[] } } = {};
      try {
        parsed = JSON.parse(body) as typeof parsed;
      } catch {}
      const message = parsed.error?.message ?? (body.trim().split('\n')[0] || `HTTP ${res.statusCode}`);
      return Object.assign(new Error(message), { code: res.statusCode, status: res.statusCode, errors: parsed.error?.errors });
    },
    /** Closes the pooled connections. */
    close(): void {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
