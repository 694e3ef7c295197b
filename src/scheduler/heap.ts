/**
 * A binary min-heap of (due, id, version) triples ordered by due, kept in typed arrays. The
 * scheduler holds one item per site plus the stale ones of rescheduled sites: as objects those
 * took ~70 B each on the V8 heap (with a boxed `due`), and one was made per round; here an item
 * is 24 B and pushing allocates nothing until the arrays double.
 */
export class DueHeap {
  private dues = new Float64Array(1024);
  private ids = new Float64Array(1024);
  private versions = new Float64Array(1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The earliest due time; Infinity when empty. */
  topDue(): number {
    return this.count > 0 ? this.dues[0] : Infinity;
  }

  /** The id of the earliest item (read it before `pop`). */
  topId(): number {
    return this.ids[0];
  }

  /** The version the earliest item was pushed with (read it before `pop`). */
  topVersion(): number {
    return this.versions[0];
  }

  push(id: number, due: number, version: number): void {
    if (this.count === this.dues.length) this.grow();
    let i = this.count++;
    // Sift up: move parents down until the new item's place is found, then write it once.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.dues[parent] <= due) break;
      this.move(parent, i);
      i = parent;
    }
    this.set(i, id, due, version);
  }

  /** Removes the earliest item. */
  pop(): void {
    if (this.count === 0) return;
    const last = --this.count;
    if (last === 0) return;
    const due = this.dues[last];
    const id = this.ids[last];
    const version = this.versions[last];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const m = r < last && this.dues[r] < this.dues[l] ? r : l;
      if (this.dues[m] >= due) break;
      this.move(m, i);
      i = m;
    }
    this.set(i, id, due, version);
  }

  private move(from: number, to: number): void {
    this.dues[to] = this.dues[from];
    this.ids[to] = this.ids[from];
    this.versions[to] = this.versions[from];
  }

  private set(i: number, id: number, due: number, version: number): void {
    this.dues[i] = due;
    this.ids[i] = id;
    this.versions[i] = version;
  }

  private grow(): void {
    const size = this.dues.length * 2;
    const grown = (a: Float64Array) => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    this.dues = grown(this.dues);
    this.ids = grown(this.ids);
    this.versions = grown(this.versions);
  }
}
