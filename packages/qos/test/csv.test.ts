import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCode } from '@shylock/conformance';
import { formatQosCsv, loadQosFile, parseQosCsv, type QosFileError } from '../src/index.js';

function errorOf(text: string): QosFileError {
  try {
    parseQosCsv(text, 'rules.csv');
  } catch (e) {
    return e as QosFileError;
  }
  throw new Error('expected the CSV to be rejected');
}

describe('parseQosCsv', () => {
  it('reads the seed example: read 1000 B/s, write 2 B/s, 2 read ops/s', () => {
    expect(parseQosCsv('/mnt/b/foo/foo/,1000,2,2\n')).toEqual([
      { path: '/mnt/b/foo/foo', readBytesPerSec: 1000, writeBytesPerSec: 2, readOpsPerSec: 2 },
    ]);
  });
  it('takes a header, comments, blank lines, units and empty fields', () => {
    const text = [
      '# who gets what',
      'path,read_bps,write_bps,read_ops,write_ops',
      '',
      '/users/lhj/, 1MiB , 512K, 200, 0',
      '"/odd, name", , 1.5k',
      '/dec,1MB,1kB',
    ].join('\r\n');
    expect(parseQosCsv(text)).toEqual([
      { path: '/users/lhj', readBytesPerSec: 1 << 20, writeBytesPerSec: 512 * 1024, readOpsPerSec: 200 },
      { path: '/odd, name', writeBytesPerSec: 1536 },
      { path: '/dec', readBytesPerSec: 1_000_000, writeBytesPerSec: 1000 },
    ]);
  });
  it('an empty file is no rules', () => {
    expect(parseQosCsv('')).toEqual([]);
    expect(parseQosCsv('# nothing\n\n')).toEqual([]);
  });
  it('a row with a missing column is rejected with its line and column', () => {
    const e = errorOf('/a,1,1\n/b,1\n');
    expect([e.code, e.line, e.column]).toEqual(['EINVAL', 2, 5]);
    expect(e.message).toMatch(/^rules\.csv:2:5: expected at least 3 columns/);
  });
  it('a negative, non-numeric or NaN limit is rejected with its line and column', () => {
    expect([errorOf('/a,-1,0').line, errorOf('/a,-1,0').column]).toEqual([1, 4]);
    expect(errorOf('/a,1,abc').column).toBe(6);
    expect(errorOf('/a,NaN,1').message).toMatch(/read_bps "NaN" is not a non-negative number/);
    expect(errorOf('/a,10XB,1').message).toMatch(/read_bps "10XB": unknown unit "XB" \(use K, M, G/);
    expect(errorOf('/a,1,1T').message).toMatch(/write_bps "1T": unknown unit "T"/);
    expect(errorOf('/a,1,1,1,1e3').message).toMatch(/write_ops/);
  });
  it('a duplicate path is rejected naming both lines', () => {
    const e = errorOf('/a/,1,1\n# x\n/a,2,2\n');
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/first is on line 1/);
  });
  it('too many columns, an unknown header, an unclosed quote and a bad path are rejected', () => {
    expect(errorOf('/a,1,1,1,1,1').column).toBe(12);
    expect(errorOf('path,read,write').message).toMatch(/unknown header column "read"/);
    expect(errorOf('"/a,1,1').message).toMatch(/not closed/);
    expect(errorOf('/../x,1,1').message).toMatch(/climbs above the root/);
    expect(errorOf(' ,1,1').message).toMatch(/path is empty/);
  });
  it('formatQosCsv writes what parseQosCsv reads', () => {
    const rules = [
      { path: '/a b', readBytesPerSec: 10, writeOpsPerSec: 3 },
      { path: '/c', writeBytesPerSec: 7 },
    ];
    expect(parseQosCsv(formatQosCsv(rules))).toEqual(rules);
  });
});

describe('loadQosFile', () => {
  it('reads a file and names it in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shylock-qos-'));
    try {
      const file = join(dir, 'rules.csv');
      await writeFile(file, '/x,1,2\n/y,oops,1\n');
      await expect(loadQosFile(file)).rejects.toThrow(`${file}:2:4:`);
      await writeFile(file, '/x,1,2\n');
      expect(await loadQosFile(file)).toEqual([{ path: '/x', readBytesPerSec: 1, writeBytesPerSec: 2 }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('a missing file rejects ENOENT', async () => {
    await expectCode(loadQosFile('/nonexistent/rules.csv'), 'ENOENT');
  });
});
