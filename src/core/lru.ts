// A small least-recently-used map with a fixed capacity: bounded memory for every per-object table in JS (cgroup and
// identity caches, the process table). Evictions are counted, and reported to `onEvict` when given.
// Map keeps insertion order, so re-inserting on read moves a key to the young end and the first key is the oldest.

export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  evictions = 0;

  constructor(readonly capacity: number, private readonly onEvict?: (key: K, value: V) => void) {
    if (!(capacity >= 1)) throw new RangeError(`LruMap capacity must be at least 1, got ${capacity}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  /** Read without touching recency (for scans and tests). */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as K;
      const value = this.map.get(oldest) as V;
      this.map.delete(oldest);
      this.evictions++;
      this.onEvict?.(oldest, value);
    }
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }
}
