// Bounded aggregation for high-cardinality keys (flows, peers, attribute values): at most `capacity` keys are kept,
// by the Space-Saving algorithm (Metwally et al., 2005): a new key replaces the key with the smallest count and
// inherits that count as its possible over-estimate (`error`). Every heavy hitter above total/capacity is kept. What
// a replaced key had aggregated moves into `other`, so sums over kept keys + other always equal what went in.
// Memory is fixed: a Map and a min-heap of `capacity` entries; add() is O(log capacity).

export interface TopKEntry<A> {
  key: string;
  /** Estimated weight (never under the true weight; over it by at most `error`). */
  count: number;
  error: number;
  aggregate: A;
}

interface Slot<A> extends TopKEntry<A> {
  heapIndex: number;
}

export interface BoundedAggregatorOptions<A> {
  capacity: number;
  /** A fresh aggregate for a new key. */
  create: () => A;
  /** Fold a replaced key's aggregate into `other`. */
  merge: (into: A, from: A) => void;
}

export class BoundedAggregator<A> {
  private readonly slots = new Map<string, Slot<A>>();
  private readonly heap: Slot<A>[] = [];
  /** Everything aggregated under keys that were replaced. */
  readonly other: { count: number; aggregate: A };
  /** Keys replaced to make room: how much cardinality was cut. */
  replaced = 0;
  total = 0;

  constructor(private readonly options: BoundedAggregatorOptions<A>) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.other = { count: 0, aggregate: options.create() };
  }

  get size(): number {
    return this.slots.size;
  }

  /** Adds `weight` to `key` and lets `update` change its aggregate; returns the key's entry. */
  add(key: string, weight = 1, update?: (aggregate: A) => void): TopKEntry<A> {
    if (!(weight >= 0)) weight = 0;
    this.total += weight;
    let s = this.slots.get(key);
    if (!s) {
      if (this.slots.size < this.options.capacity) {
        s = { key, count: 0, error: 0, aggregate: this.options.create(), heapIndex: this.heap.length };
        this.heap.push(s);
      } else {
        s = this.heap[0]; // the smallest count: replaced, its aggregate goes to "other"
        this.slots.delete(s.key);
        this.other.count += s.count - s.error;
        this.options.merge(this.other.aggregate, s.aggregate);
        this.replaced++;
        s.key = key;
        s.error = s.count;
        s.aggregate = this.options.create();
      }
      this.slots.set(key, s);
    }
    s.count += weight;
    update?.(s.aggregate);
    this.siftDown(s.heapIndex);
    return s;
  }

  get(key: string): TopKEntry<A> | undefined {
    return this.slots.get(key);
  }

  /** The `n` heaviest keys, heaviest first. */
  top(n = this.options.capacity): TopKEntry<A>[] {
    return [...this.slots.values()].sort((a, b) => b.count - a.count).slice(0, n)
      .map(({ key, count, error, aggregate }) => ({ key, count, error, aggregate }));
  }

  clear(): void {
    this.slots.clear();
    this.heap.length = 0;
    this.other.count = 0;
    this.other.aggregate = this.options.create();
    this.replaced = 0;
    this.total = 0;
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && h[l].count < h[m].count) m = l;
      if (r < h.length && h[r].count < h[m].count) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      h[i].heapIndex = i;
      h[m].heapIndex = m;
      i = m;
    }
  }
}

/** Counting only: the top keys by weight, with the rest under "other". */
export class TopK extends BoundedAggregator<null> {
  constructor(capacity: number) {
    super({ capacity, create: () => null, merge: () => undefined });
  }
}
