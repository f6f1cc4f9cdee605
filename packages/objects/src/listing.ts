import { baseName, parentPath, type Stat } from '@shylock/core';

/** What a listing told of one name: its stat and, for an object, its version tag. */
export interface Known {
  stat: Stat;
  etag?: string;
}

interface Listing {
  until: number;
  entries: Map<string, Known>;
}

/**
 * Directory listings kept for a short time, so a `stat` of each entry after a listing (`ls -l`,
 * a FUSE lookup per name) costs no request, and a name missing from a fresh listing is known
 * missing. Changes made through the backend update or drop what they touch; changes by other
 * clients show once the listing expires.
 */
export class ListingCache {
  readonly #dirs = new Map<string, Listing>();
  readonly #ttlMs: number;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** The fresh listing of `dir`, or undefined. */
  listing(dir: string): Map<string, Known> | undefined {
    const l = this.#dirs.get(dir);
    if (!l) return undefined;
    if (l.until <= Date.now()) {
      this.#dirs.delete(dir);
      return undefined;
    }
    return l.entries;
  }

  set(dir: string, entries: Map<string, Known>): void {
    if (this.#ttlMs <= 0) return;
    this.#dirs.set(dir, { until: Date.now() + this.#ttlMs, entries });
  }

  /** What a fresh listing of the parent says of `path`, when it lists it. */
  lookup(path: string): Known | undefined {
    if (path === '/') return undefined;
    return this.listing(parentPath(path))?.get(baseName(path));
  }

  /** `path` now exists as `known` (written, made): its parent's listing says so. */
  put(path: string, known: Known): void {
    this.listing(parentPath(path))?.set(baseName(path), known);
  }

  /** `path` is gone, or changed in a way a listing can't tell: forget it and all below it. */
  drop(path: string): void {
    if (path !== '/') {
      // A parent listing whose entry is unknown now: forget the whole listing.
      this.#dirs.delete(parentPath(path));
    }
    const below = path === '/' ? '/' : `${path}/`;
    for (const dir of this.#dirs.keys()) if (dir === path || dir.startsWith(below)) this.#dirs.delete(dir);
  }

  clear(): void {
    this.#dirs.clear();
  }
}
