/**
 * Figures measured round by round, targets interleaved, for benchmarks on a machine whose speed
 * swings between runs: each figure keeps every round's value, and a ratio is taken within each
 * round (both sides under the same conditions) before the median of those is reported.
 */
export class Rounds {
  private readonly values = new Map<string, number[]>();

  /** Records this round's value of `name`; returns it. */
  add(name: string, value: number): number {
    const list = this.values.get(name) ?? [];
    list.push(value);
    this.values.set(name, list);
    return value;
  }

  /** Every round's value of `name`, in order. */
  all(name: string): number[] {
    const list = this.values.get(name);
    if (!list || list.length === 0) throw new Error(`no values recorded for ${name}`);
    return list;
  }

  /** The median of `name` over the rounds (the lower middle one for an even count). */
  median(name: string): number {
    const sorted = [...this.all(name)].sort((a, b) => a - b);
    return sorted[(sorted.length - 1) >> 1]!;
  }

  /** "min–max" of `name`, with `digits` decimals. */
  range(name: string, digits = 2): string {
    const list = this.all(name);
    return `${format(Math.min(...list), digits)}–${format(Math.max(...list), digits)}`;
  }
}

/** A number with thousands separators and `digits` decimals. */
export function format(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
