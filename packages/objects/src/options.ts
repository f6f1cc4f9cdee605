import { parseCount, parseSize, type OptionDecl } from '@shylock/core';

/**
 * The options every object store shares ({@link ObjectBackendOptions}), declared once: the
 * adapters add them to their own, and the `shylock` command makes flags of them.
 */
export const OBJECT_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'partSize',
    flag: 'part-size',
    type: 'string',
    value: '<size>',
    default: '8MiB',
    help: 'bytes per uploaded part; a file written in order streams in parts of this size',
    parse: parseSize,
  },
  {
    key: 'uploadConcurrency',
    flag: 'upload-concurrency',
    type: 'string',
    value: '<n>',
    default: '4',
    help: 'parts of one file uploaded at once',
    parse: parseCount,
  },
  {
    key: 'readAhead',
    flag: 'read-ahead',
    type: 'string',
    value: '<size>',
    default: '64MiB',
    help: 'most bytes fetched ahead of a sequential reader (0 = none)',
    parse: parseSize,
  },
  {
    key: 'cacheTtlMs',
    flag: 'cache-ttl',
    type: 'string',
    value: '<ms>',
    default: '10000',
    help: 'how long a listing answers stat and lookups (0 = never cached)',
    parse: parseCount,
  },
  {
    key: 'spoolDir',
    flag: 'spool-dir',
    type: 'string',
    value: '<dir>',
    default: '<temp dir>/shylock-spool',
    help: 'where files changed at random wait for upload, and where a failed upload leaves its data',
  },
];
