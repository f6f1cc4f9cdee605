import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { BACKEND_METHODS, type Backend, type BackendMethod, type Capabilities, type MethodRow } from '@shylock/core';
import { expect } from 'vitest';
import { randomName, type ConformanceOptions, type SuiteContext } from './context.js';
import { copySuite } from './suites/copy.js';
import { errorsSuite } from './suites/errors.js';
import { linksSuite } from './suites/links.js';
import { listSuite } from './suites/list.js';
import { metadataSuite } from './suites/metadata.js';
import { mkdirSuite } from './suites/mkdir.js';
import { readSuite } from './suites/read.js';
import { renameSuite } from './suites/rename.js';
import { statSuite } from './suites/stat.js';
import { streamsSuite } from './suites/streams.js';
import { truncateSuite } from './suites/truncate.js';
import { unlinkSuite } from './suites/unlink.js';
import { writeSuite } from './suites/write.js';
import { xattrsSuite } from './suites/xattrs.js';

const SUITES = {
  stat: statSuite,
  read: readSuite,
  write: writeSuite,
  list: listSuite,
  mkdir: mkdirSuite,
  unlink: unlinkSuite,
  rename: renameSuite,
  truncate: truncateSuite,
  metadata: metadataSuite,
  links: linksSuite,
  copy: copySuite,
  errors: errorsSuite,
  streams: streamsSuite,
  xattrs: xattrsSuite,
} as const;

/**
 * Registers the shylock conformance suite for a backend with vitest. `factory` is called with the
 * capabilities known to the suite at collection time, so it must be cheap; the backend it returns
 * is used by every test and closed after them. Each test works under its own random directory
 * below `options.base`, so suites may share one server.
 *
 * The tests that run follow `backend.capabilities`: a capability that is true must work.
 *
 * ```ts
 * import { describeBackend } from '@shylock/conformance';
 * describeBackend('memory', () => memoryBackend());
 * ```
 */
export function describeBackend(name: string, factory: () => Backend | Promise<Backend>, options: ConformanceOptions = {}): void {
  // Suites are chosen from the capabilities, which must be known when tests are collected: the
  // factory runs once now for them, and the backend is made again in beforeAll for the tests.
  let capabilities: Readonly<Capabilities> | undefined;
  let backend: Backend | undefined;
  let current = '';
  const base = (options.base ?? '/').replace(/\/+$/, '');
  const timeout = options.timeout ?? 10_000;

  describe(`${name} conformance`, async () => {
    const probe = await factory();
    capabilities = probe.capabilities;
    await probe.close();

    beforeAll(async () => {
      backend = await factory();
    });
    afterAll(async () => {
      await backend?.close();
    });
    it('every capability it claims comes with its methods (the core method table)', () => {
      const missing = (Object.keys(BACKEND_METHODS) as BackendMethod[]).filter((m) => {
        const row: MethodRow = BACKEND_METHODS[m];
        return row.capability !== undefined && capabilities![row.capability] && typeof backend![m] !== 'function';
      });
      expect(missing).toEqual([]);
    });
    beforeEach(async () => {
      current = `${base}/${randomName()}`;
      if (capabilities!.directories) await backend!.mkdir!(current);
    });

    for (const [suiteName, suite] of Object.entries(SUITES)) {
      const tests: [string, () => Promise<void>][] = [];
      suite({
        backend: () => backend!,
        root: () => current,
        caps: () => capabilities!,
        options,
        test: (testName, fn) => void tests.push([testName, fn]),
      } satisfies SuiteContext);
      if (tests.length === 0) continue; // nothing this backend can do in that area
      describe(suiteName, () => {
        for (const [testName, fn] of tests) {
          const reason = options.exclude?.[testName];
          if (reason !== undefined) it.skip(`${testName} (excluded: ${reason})`, fn);
          else it(testName, fn, timeout);
        }
      });
    }
  });
}
