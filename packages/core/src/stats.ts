import type { Stat } from './types.js';

/**
 * The stat of a directory that has no metadata of its own (a prefix, a listing made up by the
 * backend): mode 0755, two links, modified `mtimeMs` (default now).
 */
export function dirStat(mtimeMs = Date.now()): Stat {
  return { type: 'directory', size: 0, mode: 0o755, mtimeMs, nlink: 2 };
}

/** The stat of a message stream (channel, topic, queue): mode 0644, size 0, modified `mtimeMs` (default now). */
export function streamStat(mtimeMs = Date.now()): Stat {
  return { type: 'stream', size: 0, mode: 0o644, mtimeMs };
}
