import { readFile } from 'node:fs/promises';
import { normalizePath, ShylockError, SIZE_UNITS, type QosRule } from '@shylock/core';

/** A QoS file that could not be read: `line` and `column` (1-based) say where. */
export class QosFileError extends ShylockError {
  readonly line: number;
  readonly column: number;
  readonly source: string;
  constructor(source: string, line: number, column: number, message: string) {
    super('EINVAL', `${source}:${line}:${column}: ${message}`, { op: 'qos-file', path: source });
    this.line = line;
    this.column = column;
    this.source = source;
  }
}

const COLUMNS = ['path', 'read_bps', 'write_bps', 'read_ops', 'write_ops'] as const;
const FIELDS = ['readBytesPerSec', 'writeBytesPerSec', 'readOpsPerSec', 'writeOpsPerSec'] as const;

interface Field {
  text: string;
  column: number;
}

/** Splits one line into fields; double quotes may wrap a field ("a,b"), "" is a quote inside. */
function splitFields(line: string, lineNo: number, source: string): Field[] {
  const fields: Field[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    const column = i + 1;
    let text = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new QosFileError(source, lineNo, column, 'a quoted field is not closed: add a "');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            text += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += line[i++];
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (i < line.length && line[i] !== ',') {
        throw new QosFileError(source, lineNo, i + 1, 'expected a comma after the quoted field');
      }
    } else {
      const end = line.indexOf(',', i);
      text = (end === -1 ? line.slice(i) : line.slice(i, end)).trim();
      i = end === -1 ? line.length : end;
    }
    fields.push({ text, column });
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/**
 * Reads a number of bytes or operations per second: `1000`, `1.5`, `512K`, `1MiB`, `2G` (binary
 * units; `kB`/`MB`/`GB` are decimal). Empty means 0 (unlimited).
 */
function parseAmount(field: Field, name: string, lineNo: number, source: string): number {
  if (field.text === '') return 0;
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)$/.exec(field.text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (m && unit === undefined) {
    throw new QosFileError(
      source,
      lineNo,
      field.column,
      `${name} "${field.text}": unknown unit "${m[2]}" (use K, M, G or KiB, MiB, GiB for 1024s; kB, MB, GB for 1000s)`,
    );
  }
  if (!m || unit === undefined) {
    throw new QosFileError(
      source,
      lineNo,
      field.column,
      `${name} "${field.text}" is not a non-negative number: write e.g. 1000, 512K or 1MiB (0 or empty = unlimited)`,
    );
  }
  const value = Number(m[1]) * unit;
  if (!Number.isFinite(value)) {
    throw new QosFileError(source, lineNo, field.column, `${name} "${field.text}" is too large`);
  }
  return value;
}

/**
 * Parses a QoS CSV file: one rule a line, `path,read_bps,write_bps[,read_ops,write_ops]`. An
 * optional header row names the columns; blank lines and lines starting with `#` are skipped.
 * A missing or 0 limit is unlimited. The whole file is rejected at the first problem, with its
 * line and column, so nothing is half-applied.
 *
 * ```csv
 * path,read_bps,write_bps,read_ops,write_ops
 * /mnt/b/foo/foo/,1000,2,2
 * /users/lhj/,1MiB,512K,200,0
 * ```
 *
 * @throws QosFileError (a ShylockError `EINVAL`) with `line` and `column`.
 */
export function parseQosCsv(text: string, source = 'qos.csv'): QosRule[] {
  const rules: QosRule[] = [];
  const seen = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let sawRow = false;
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const fields = splitFields(raw, lineNo, source);
    if (!sawRow) {
      sawRow = true;
      if (fields[0]?.text.toLowerCase() === 'path') {
        fields.forEach((f, i) => {
          const want = COLUMNS[i];
          if (want === undefined || f.text.toLowerCase() !== want) {
            throw new QosFileError(source, lineNo, f.column, `unknown header column "${f.text}": the columns are ${COLUMNS.join(',')}`);
          }
        });
        return;
      }
    }
    if (fields.length < 3) {
      const end = raw.length + 1;
      throw new QosFileError(source, lineNo, end, `expected at least 3 columns (path,read_bps,write_bps), found ${fields.length}`);
    }
    if (fields.length > 5) {
      throw new QosFileError(
        source,
        lineNo,
        fields[5]!.column,
        `expected at most 5 columns (path,read_bps,write_bps,read_ops,write_ops), found ${fields.length}`,
      );
    }
    const pathField = fields[0]!;
    if (pathField.text === '') throw new QosFileError(source, lineNo, pathField.column, 'the path is empty');
    let path: string;
    try {
      path = normalizePath(pathField.text, 'qos rule');
    } catch (e) {
      throw new QosFileError(source, lineNo, pathField.column, (e as Error).message);
    }
    const first = seen.get(path);
    if (first !== undefined) {
      throw new QosFileError(source, lineNo, pathField.column, `a second rule for ${path} (the first is on line ${first})`);
    }
    seen.set(path, lineNo);
    const rule: QosRule = { path };
    FIELDS.forEach((name, i) => {
      const field = fields[i + 1];
      if (!field) return;
      const value = parseAmount(field, COLUMNS[i + 1]!, lineNo, source);
      if (value > 0) rule[name] = value;
    });
    rules.push(rule);
  });
  return rules;
}

/**
 * Reads and parses a QoS CSV file (see {@link parseQosCsv}). Rejects ENOENT / EACCES when the
 * file cannot be read, and a QosFileError for its contents.
 */
export async function loadQosFile(file: string): Promise<QosRule[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ShylockError(
      code === 'ENOENT' ? 'ENOENT' : code === 'EACCES' ? 'EACCES' : 'EIO',
      `cannot read the QoS file ${file}: ${(e as Error).message}`,
      { op: 'qos-file', path: file, cause: e },
    );
  }
  return parseQosCsv(text, file);
}

/** Writes rules back as CSV, the format {@link parseQosCsv} reads. */
export function formatQosCsv(rules: QosRule[]): string {
  const quote = (s: string) => (/[",\s#]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const rows = rules.map((r) => [quote(r.path), ...FIELDS.map((f) => String(r[f] ?? 0))].join(','));
  return [COLUMNS.join(','), ...rows].join('\n') + '\n';
}
