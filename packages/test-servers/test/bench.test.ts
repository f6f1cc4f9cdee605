import { describe, expect, it } from 'vitest';
import { format, Rounds } from '../src/index.js';

describe('Rounds', () => {
  it('keeps every round and reports the median and the range', () => {
    const r = new Rounds();
    for (const v of [5, 1, 4, 2, 3]) r.add('x', v);
    expect(r.all('x')).toEqual([5, 1, 4, 2, 3]);
    expect(r.median('x')).toBe(3);
    r.add('y', 2);
    r.add('y', 1);
    expect(r.median('y')).toBe(1);
    expect(r.range('x')).toBe('1.00–5.00');
    expect(() => r.median('none')).toThrow(/no values recorded for none/);
  });
  it('formats with separators and fixed decimals', () => {
    expect(format(1234567.891)).toBe('1,234,568');
    expect(format(0.5, 2)).toBe('0.50');
  });
});
