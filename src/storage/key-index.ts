import type { Stored } from "./types.js";

/**
 * The current value of every key, with prefix listing in key order. The sorted key array
 * is rebuilt lazily after creates and deletes, so a burst of writes costs one sort at the
 * next list instead of one insertion per write.
 */
export class KeyIndex {
  readonly #map = new Map<string, Stored>();
  #sorted: string[] | undefined = [];

  get size(): number {
    return this.#map.size;
  }

  get(key: string): Stored | undefined {
    return this.#map.get(key);
  }

  set(s: Stored): void {
    if (!this.#map.has(s.key)) this.#sorted = undefined;
    this.#map.set(s.key, s);
  }

  delete(key: string): void {
    if (this.#map.delete(key)) this.#sorted = undefined;
  }

  /** Every stored value whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Stored[] {
    this.#sorted ??= [...this.#map.keys()].sort();
    const keys = this.#sorted;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] ?? "") < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: Stored[] = [];
    for (let i = lo; i < keys.length; i++) {
      const k = keys[i];
      if (!k?.startsWith(prefix)) break;
      const s = this.#map.get(k);
      if (s !== undefined) out.push(s);
    }
    return out;
  }
}
