// Counting records by a key (event name, kind) where batches mostly hold long runs of one key: one update per run,
// not per record. Used for the pipeline's per-name counts and the exporter's per-kind batch and drop counts.

/** Calls add(key, n) for each run of equal keys in items[from, to), in order (a key may come back in a later run). */
export function forEachRun<T>(items: readonly T[], keyOf: (t: T) => string, add: (key: string, n: number) => void,
  from = 0, to = items.length): void {
  let run = '';
  let n = 0;
  for (let i = from; i < to; i++) {
    const k = keyOf(items[i]!);
    if (k === run) {
      n++;
      continue;
    }
    if (n > 0) add(run, n);
    run = k;
    n = 1;
  }
  if (n > 0) add(run, n);
}
