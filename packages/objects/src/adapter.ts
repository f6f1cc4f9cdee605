import { ShylockError } from '@shylock/core';

/**
 * What the store adapters (`@shylock/s3`, `@shylock/gcs`) share beyond {@link ObjectStore}: the
 * `bucket[/prefix]` argument and a ranged body read into one buffer.
 */

/**
 * Splits `bucket` or `bucket/prefix` (with an optional `scheme://` in front) and checks the
 * bucket's name.
 *
 * @throws ShylockError `EINVAL` naming what to give.
 */
export function bucketSpec(store: string, spec: string, scheme: string, valid: RegExp): { bucket: string; prefix: string } {
  const text = spec.trim().replace(new RegExp(`^${scheme}://`), '');
  const slash = text.indexOf('/');
  const bucket = slash === -1 ? text : text.slice(0, slash);
  if (!valid.test(bucket)) {
    throw new ShylockError('EINVAL', `${store}: "${spec}" is not a bucket name: give <bucket> or <bucket>/<prefix>, e.g. photos/2026`);
  }
  return { bucket, prefix: slash === -1 ? '' : text.slice(slash + 1).replace(/^\/+|\/+$/g, '') };
}

/** Joins key prefixes, dropping empty ones and the slashes around each. */
export function joinPrefix(...parts: (string | undefined)[]): string {
  return parts
    .map((p) => (p ?? '').replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/');
}

/**
 * The body of a ranged read, straight into one buffer of the `size` asked for; shorter when the
 * object is (it shrank since it was listed).
 *
 * @throws ShylockError `EIO` when the server sends more than asked for.
 */
export async function readRange(body: AsyncIterable<Uint8Array>, size: number, what: string): Promise<Uint8Array> {
  const data = Buffer.allocUnsafe(size);
  let at = 0;
  for await (const chunk of body) {
    if (at + chunk.length > size) throw new ShylockError('EIO', `${what}: the server sent more than the ${size} bytes asked for`);
    data.set(chunk, at);
    at += chunk.length;
  }
  return at === size ? data : data.subarray(0, at);
}
