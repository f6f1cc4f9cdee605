import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { localBackend } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'shylock-local-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeBackend('local', () => localBackend({ root }));
describeBackend('local (metadata: async)', () => localBackend({ root, metadata: 'async' }));
describeBackend('local (metadata: sync, data: async)', () => localBackend({ root, data: 'async' }));
