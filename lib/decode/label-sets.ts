import type { Label } from '../model/profile';

/**
 * Deduplicates the label sets of a profile's samples so rows can share them. Set 0 is the empty
 * set. Callers key a set however is cheapest for them (raw string indices, serialized labels);
 * `make` runs only for the first sample with a given key.
 */
export class LabelSetTable {
  readonly sets: Label[][] = [[]];
  private readonly index = new Map<string, number>();

  intern(key: string, make: () => Label[]): number {
    let id = this.index.get(key);
    if (id === undefined) {
      const labels = make();
      if (labels.length === 0) id = 0;
      else {
        id = this.sets.length;
        this.sets.push(labels);
      }
      this.index.set(key, id);
    }
    return id;
  }
}
