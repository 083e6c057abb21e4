// The C heap's freed pages back to the kernel (malloc_trim, native/src/memory.cc). After every BPF object load
// (src/kernel/loader.ts), and now and then from the agent: a backlog in the export queue (encoded batches live in
// Buffers, which are C heap) leaves tens of MiB freed but still resident after it drained.
import { native } from './native';

/** true when some memory went back to the kernel. */
export function releaseFreedHeap(): boolean {
  return native().releaseFreedHeap();
}
