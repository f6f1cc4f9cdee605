import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPolicy, createQosServer, type QosServer } from '../src/index.js';

describe('createQosServer', () => {
  const policy = createPolicy([{ path: '/seed', readBytesPerSec: 1000 }], { root: '/home/lhj/mnt/b' });
  let api: QosServer;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  };
  beforeAll(async () => {
    api = await createQosServer(policy);
  });
  afterAll(() => api.close());

  it('binds 127.0.0.1 by default', () => {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
  it('POST creates a rule with the original field names, and a second POST is 409', async () => {
    const body = { key: '/home/lhj/mnt/b/foo/monkey/', read_limit: 10, write_limit: 10, read_ops_limit: 0, write_ops_limit: 0 };
    const created = await call('POST', '/key/home/lhj/mnt/b/foo/monkey/', body);
    expect(created).toEqual({
      status: 201,
      body: { key: '/foo/monkey', read_limit: 10, write_limit: 10, read_ops_limit: 0, write_ops_limit: 0 },
    });
    expect(policy.get('/foo/monkey')).toEqual({ path: '/foo/monkey', readBytesPerSec: 10, writeBytesPerSec: 10 });
    expect((await call('POST', '/key/foo/monkey', { read_limit: 1 })).status).toBe(409);
  });
  it('POST /key/ takes the path from the body', async () => {
    const r = await call('POST', '/key/', { key: '/bodykey', write_ops_limit: 5 });
    expect(r.status).toBe(201);
    expect(r.body.key).toBe('/bodykey');
  });
  it('GET reads one rule or lists all; an unknown key is 404', async () => {
    expect((await call('GET', '/key/seed')).body).toMatchObject({ key: '/seed', read_limit: 1000 });
    const all = await call('GET', '/key/');
    expect(all.body.map((r: { key: string }) => r.key)).toContain('/seed');
    const missing = await call('GET', '/key/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatch(/no rule for \/nope/);
  });
  it('PUT changes only the fields given; DELETE removes', async () => {
    await call('POST', '/key/put', { read_limit: 100, write_limit: 200 });
    const r = await call('PUT', '/key/put', { read_limit: 300 });
    expect(r.body).toMatchObject({ read_limit: 300, write_limit: 200 });
    expect((await call('PUT', '/key/absent', { read_limit: 1 })).status).toBe(404);
    expect((await call('DELETE', '/key/put')).status).toBe(200);
    expect((await call('DELETE', '/key/put')).status).toBe(404);
  });
  it('bad JSON, wrong types, negative numbers and unknown fields are 400 with a JSON error', async () => {
    for (const body of ['{nope', '[1,2]', { read_limit: 'fast' }, { read_limit: -1 }, { read_limt: 5 }, { key: 7 }]) {
      const r = await call('POST', '/key/bad', body);
      expect(r.status).toBe(400);
      expect(typeof r.body.error).toBe('string');
    }
    expect((await call('POST', '/key/x', { key: '/y', read_limit: 1 })).status).toBe(400);
    expect(policy.get('/bad')).toBeUndefined();
  });
  it('a body over the limit is 413, an unknown method 405, an unknown route 404', async () => {
    expect((await call('POST', '/key/huge', JSON.stringify({ key: '/huge', pad: 'x'.repeat(100_000) }))).status).toBe(413);
    expect((await call('PATCH', '/key/seed', {})).status).toBe(405);
    expect((await call('GET', '/other')).status).toBe(404);
  });
  it('GET /metrics reports bytes, ops and wait seconds per rule', async () => {
    await policy.acquire('/seed/file', 'read', 500);
    const m = await call('GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toContain('# TYPE shylock_qos_bytes_total counter');
    expect(m.body).toContain('shylock_qos_bytes_total{path="/seed",direction="read"} 500');
    expect(m.body).toContain('shylock_qos_ops_total{path="/seed",direction="read"} 1');
    expect(m.body).toContain('shylock_qos_wait_seconds_total{path="/seed",direction="read"}');
    expect(m.body).toContain('shylock_qos_limit_bytes_per_second{path="/seed",direction="read"} 1000');
  });
});
