// The C heap's freed pages back to the kernel (malloc_trim, native/src/memory.cc). After every BPF object load
// (src/kernel/loader.ts), and now and then from the agent: a backlog in the export queue (encoded batches live in
// Buffers, which are C heap) leaves tens of MiB freed but still resident after it drained. And single Buffers freed as
// soon as they are done with (releaseBuffer), before V8 would collect them.
import { native } from './native';

/** true when some memory went back to the kernel. */
export function releaseFreedHeap(): boolean {
  return native().releaseFreedHeap();
}

/** Frees a typed array's memory now rather than at V8's next full collection (the exporter's sent batches: at
 *  100k events/s they otherwise pile up by tens of MiB). Only for a view over a whole ArrayBuffer that nothing reads
 *  any more, JS or native; it reads as empty afterwards. false when it was left alone (a pooled or partial view). */
export function releaseBuffer(view: Uint8Array): boolean {
  return native().releaseBuffer(view);
}
