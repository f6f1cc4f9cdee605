import { describe, expect, it } from 'vitest';
import { ContentHint } from '../src/content-hint.js';

describe('ContentHint', () => {
  it('asks for content while most of it is taken by opens, stops when most goes unused, and looks again', () => {
    let offered = 0;
    let taken = 0;
    const hint = new ContentHint(() => [offered, taken]);
    const lookups = (n: number, takenToo: boolean) => {
      const answers: boolean[] = [];
      for (let i = 0; i < n; i++) {
        const want = hint.want();
        answers.push(want);
        if (want) {
          offered++;
          if (takenToo) taken++;
        }
      }
      return answers;
    };
    // Readers: every content is taken; it is always asked for.
    expect(lookups(64, true).every(Boolean)).toBe(true);
    // A listing's stats: nothing is taken. Within a window or two it stops asking, but for one
    // lookup in 16.
    const idle = lookups(160, false);
    const lastWindows = idle.slice(-64);
    expect(lastWindows.filter(Boolean).length).toBe(4);
    // Readers again: the lookups that still ask see their content taken, and within 4 windows
    // it asks for all again.
    const again = lookups(128, true);
    expect(again.slice(-48).every(Boolean)).toBe(true);
  });
  it('decides nothing on fewer than 4 contents', () => {
    let offered = 0;
    const hint = new ContentHint(() => [offered, 0]);
    for (let i = 0; i < 60; i++) {
      if (hint.want() && i % 20 === 0) offered++;
    }
    expect(offered).toBe(3);
    expect(hint.want()).toBe(true);
  });
});
