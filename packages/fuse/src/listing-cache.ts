import type { DirEntry, Stat } from '@shylock/core';

/**
 * Stats from the latest listings, for the getattr calls that follow a readdir (`ls -l` of 10,000
 * keys costs one list, not 10,000 stats). Any change through the mount, or reported by the
 * backend's `watch`, clears them.
 */
export class ListingCache {
  private readonly listed = new Map<string, { stat: Stat; until: number }>();

  /**
   * `onForget` hears every drop: the binding keeps the same stats on its FUSE threads (readdir
   * hands them over) and must drop them with these.
   */
  constructor(
    readonly ttlMs: number,
    private readonly onForget: () => void = () => {},
  ) {}

  /** Keeps the stats of a directory's entries, when every entry has one. */
  remember(dir: string, entries: DirEntry[]): void {
    if (this.ttlMs <= 0 || entries.length === 0 || !entries.every((e) => e.stat)) return;
    if (this.listed.size > 100_000) this.listed.clear();
    const until = performance.now() + this.ttlMs;
    const base = dir === '/' ? '' : dir;
    for (const e of entries) this.listed.set(`${base}/${e.name}`, { stat: e.stat!, until });
  }

  /** The cached stat of path, while fresh. */
  get(path: string): Stat | undefined {
    const hit = this.listed.get(path);
    if (!hit) return undefined;
    if (hit.until > performance.now()) return hit.stat;
    this.listed.delete(path);
    return undefined;
  }

  forget(): void {
    if (this.listed.size > 0) this.listed.clear();
    this.onForget();
  }

  /** Another client changed `changed` (null: anything): it and its directories go. */
  changed(changed: string | null): void {
    if (changed === null) return this.forget();
    this.onForget();
    // The path, and its directories: a new or last key makes or removes them.
    for (let p = changed; ; p = p.slice(0, p.lastIndexOf('/')) || '/') {
      this.listed.delete(p);
      if (p === '/') break;
    }
  }
}
