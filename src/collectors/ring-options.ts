// The ring reader's settings from the config, in one place for every collector that reads a ring: how long batches
// gather (kernel.coalesceMs, and for small batches kernel.maxCoalesceMs), how big they get, how many may wait for JS.
import type { TapioConfig } from '../config/schema';
import type { RingReaderOptions } from '../kernel';

/** The longest a small batch waits by default: records then reach JS ~20 times a second at most. */
const MAX_DEFAULT_COALESCE_MS = 50;

/** kernel.maxCoalesceMs, or its default: a quarter of the export batch delay while OTLP export is on (records wait
 *  for their export batch anyway, so gathering them a little longer in the ring adds little), else coalesceMs. */
export function maxCoalesceMs(config: Pick<TapioConfig, 'kernel' | 'export'>): number {
  const { coalesceMs, maxCoalesceMs: configured } = config.kernel;
  const otlp = config.export.otlp;
  const wanted = configured ?? (otlp.enabled ? Math.min(MAX_DEFAULT_COALESCE_MS, Math.floor(otlp.batch.delayMs / 4)) : coalesceMs);
  return Math.max(coalesceMs, wanted);
}

export function ringReaderOptions(config: Pick<TapioConfig, 'kernel' | 'export'>): RingReaderOptions {
  const k = config.kernel;
  return { coalesceMs: k.coalesceMs, maxCoalesceMs: maxCoalesceMs(config), batchRecords: k.batchRecords, queueBatches: k.queueBatches };
}
