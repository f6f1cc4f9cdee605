/** Lookups between two looks at the binding's counts, and the fewest contents that decide. */
const WINDOW = 16;
const DECIDES = 4;

/**
 * Whether a lookup asks the backend to bring the file's content (StatOptions.content), which may
 * cost it bytes: yes while a third or more of the contents the binding kept were taken by an open
 * (a program reading the files it looks up: `cat`, `grep -r`, a build; the kernel may look a file
 * up again after opening it, which keeps one more), no while fewer were (`ls -l`, `find`, `stat`),
 * except one lookup in WINDOW, so that a change of pattern is seen.
 */
export class ContentHint {
  private lookups = 0;
  private offered = 0;
  private taken = 0;
  private wanted = true;

  /** `counts`: contents kept and contents taken by an open, since the mount began. */
  constructor(private readonly counts: () => [number, number]) {}

  want(): boolean {
    const n = ++this.lookups;
    if (n % WINDOW === 0) {
      // Contents counted since the last decision: DECIDES of them make the next one (while it
      // asks for none, the one lookup in WINDOW that does gathers them).
      const [offered, taken] = this.counts();
      if (offered - this.offered >= DECIDES) {
        this.wanted = (taken - this.taken) * 3 >= offered - this.offered;
        this.offered = offered;
        this.taken = taken;
      }
      return true;
    }
    return this.wanted;
  }
}
