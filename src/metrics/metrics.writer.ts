/**
 * Text-format lines written straight into one reused scratch buffer: copies of kept label bytes
 * and digits written by hand, no string built per line. At 10,000 sites a full render is 130,000
 * lines (12 MB); built as strings and encoded, that took ~150 ms, written as bytes ~30 ms.
 */
export class LineWriter {
  private buf = Buffer.allocUnsafeSlow(64 * 1024);
  /** Where the next byte goes. */
  at = 0;
  /** Where what `takeView` takes begins (0 unless `hold` was called). */
  private start = 0;

  private room(n: number): Buffer {
    if (this.at + n > this.buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.at + n));
      this.buf.copy(bigger, 0, 0, this.at);
      this.buf = bigger;
    }
    return this.buf;
  }

  /** Fixed bytes (TypedArray#set: ~17 ns for a family's name here, a third of copying it by hand). */
  bytes(b: Uint8Array): void {
    this.room(b.length).set(b, this.at);
    this.at += b.length;
  }

  byte(c: number): void {
    this.room(1)[this.at++] = c;
  }

  /** Bytes `from` to `to` of what was written before `hold` again (a line's start, written once per render, copied for each of its lines). */
  again(from: number, to: number): void {
    this.room(to - from).copyWithin(this.at, from, to);
    this.at += to - from;
  }

  /** What is written from now on is taken by `takeView`; what was written before stays, for `again`, until `release`. */
  hold(): void {
    this.start = this.at;
  }

  /** Forgets everything written, held or not. */
  release(): void {
    this.start = this.at = 0;
  }

  /**
   * A string as UTF-8. Names are short and nearly always ASCII: copied a character at a time here,
   * which costs less than crossing into Buffer.write for each label; anything past ASCII is
   * written again through it.
   */
  text(s: string): void {
    const n = s.length;
    const buf = this.room(n * 3);
    let at = this.at;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) {
        this.at += buf.write(s, this.at);
        return;
      }
      buf[at++] = c;
    }
    this.at = at;
  }

  /** A sample value as `String(v)` writes it; integers from 0 to 2^53 without a string. */
  number(v: number): void {
    if (!(v >= 0 && Number.isSafeInteger(v))) return this.text(String(v));
    if (v < 10) return this.byte(48 + v);
    let digits = 1;
    for (let m = v; m >= 10; m = Math.floor(m / 10)) digits++;
    const buf = this.room(digits);
    let at = (this.at += digits);
    for (let m = v; digits-- > 0; m = Math.floor(m / 10)) buf[--at] = 48 + (m % 10);
  }

  /**
   * Milliseconds as seconds, as `String(ms / 1000)` writes them: the probes' whole milliseconds
   * without a string (`1234` -> `1.234`, `50` -> `0.05`, `2000` -> `2`), anything else through String.
   */
  seconds(ms: number): void {
    if (!(ms >= 0 && ms < 1e15 && Number.isInteger(ms))) return this.text(String(ms / 1000));
    const rest = ms % 1000;
    this.number((ms - rest) / 1000);
    if (rest === 0) return;
    const buf = this.room(4);
    buf[this.at++] = 46; // '.'
    buf[this.at++] = 48 + Math.floor(rest / 100);
    const tens = Math.floor(rest / 10) % 10;
    const ones = rest % 10;
    if (tens === 0 && ones === 0) return;
    buf[this.at++] = 48 + tens;
    if (ones !== 0) buf[this.at++] = 48 + ones;
  }

  /**
   * What was written since the last take (or `hold`), as a view of the scratch (no copy), which
   * the next write reuses: for what is kept compressed, not as it is.
   */
  takeView(): Buffer {
    const out = this.buf.subarray(this.start, this.at);
    this.at = this.start;
    return out;
  }
}
