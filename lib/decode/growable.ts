// Append-only typed arrays: the decoder never knows sample counts up front, and per-element
// JS arrays of numbers cost ~4x the memory of a Float64Array and a GC walk each.

export class GrowableF64 {
  data: Float64Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Float64Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.data.length) this.grow();
    this.data[this.length++] = v;
  }
  private grow(): void {
    const next = new Float64Array(this.data.length * 2);
    next.set(this.data);
    this.data = next;
  }
  toArray(): Float64Array {
    return this.data.slice(0, this.length);
  }
}

export class GrowableU32 {
  data: Uint32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Uint32Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.data.length) this.grow();
    this.data[this.length++] = v;
  }
  private grow(): void {
    const next = new Uint32Array(this.data.length * 2);
    next.set(this.data);
    this.data = next;
  }
  toArray(): Uint32Array {
    return this.data.slice(0, this.length);
  }
}

/**
 * Unsigned ints kept in 16 bits until one needs more, then widened once to 32: location ids and
 * indices almost always fit, and the stack array is the largest part of a decoded profile.
 */
export class GrowableUint {
  data: Uint16Array | Uint32Array;
  length = 0;
  private wide = false;
  constructor(capacity = 1024) {
    this.data = new Uint16Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.data.length) this.resize(this.data.length * 2, this.wide);
    if (v > 0xffff && !this.wide) this.widen();
    this.data[this.length++] = v;
  }
  widen(): void {
    if (!this.wide) this.resize(this.data.length, true);
  }
  private resize(capacity: number, wide: boolean): void {
    const next = wide ? new Uint32Array(capacity) : new Uint16Array(capacity);
    next.set(this.data.subarray(0, this.length));
    this.data = next;
    this.wide = wide;
  }
}
