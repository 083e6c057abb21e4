// How records leave the kernel: the BPF ring buffer (5.8+), or on kernels without it a perf event array with one
// perf buffer per CPU. The same compiled programs serve both (bpf/include/tapio.h): before load, the perf path
// turns every ring buffer map into a perf event array and sets the `tapio_use_perf` .rodata constant, so the
// verifier checks only the helpers of the transport in use. The native reader batches both the same way.
import * as os from 'node:os';
import { native, type NativeBpfObject, type ProbeOutcome } from './native';

/** kernel.transport: 'auto' takes the ring buffer where the kernel has one. */
export type TransportChoice = 'auto' | 'ringbuf' | 'perf';
export type Transport = 'ringbuf' | 'perf';

export interface TransportDecision {
  transport: Transport;
  /** Why: forced by config, or what the probe found. */
  reason: string;
}

let ringProbe: ProbeOutcome | undefined;

/** Can this kernel create a ring buffer map? Asked once per process. */
export function ringBufferSupport(): ProbeOutcome {
  ringProbe ??= native().probeMapType('ringbuf');
  return ringProbe;
}

export function chooseTransport(choice: TransportChoice = 'auto'): TransportDecision {
  if (choice === 'ringbuf') return { transport: 'ringbuf', reason: 'kernel.transport: ringbuf' };
  if (choice === 'perf') return { transport: 'perf', reason: 'kernel.transport: perf' };
  const ring = ringBufferSupport();
  return ring.ok
    ? { transport: 'ringbuf', reason: 'the kernel has BPF ring buffers' }
    : { transport: 'perf', reason: `no BPF ring buffer (${(ring.error ?? 'unsupported').split('\n')[0]}): perf buffers, one per CPU` };
}

const PAGE = 4096;

/** Pages per CPU for a perf buffer standing in for a ring of `ringBytes`: the ring's bytes shared out over the
 *  online CPUs (perf buffers exist only for those), a power of two, at least 16 pages (64 KiB) per CPU. */
export function perfPagesPerCpu(ringBytes: number, cpus = os.cpus().length): number {
  const want = Math.max(16, Math.floor(ringBytes / Math.max(1, cpus) / PAGE));
  return 2 ** Math.floor(Math.log2(want));
}

/**
 * Before load: shapes an opened object for the transport. Returns the perf pages per CPU of each ring map turned
 * into a perf event array (empty on the ring buffer path).
 */
export function prepareTransport(obj: NativeBpfObject, transport: Transport): Map<string, number> {
  const perfRings = new Map<string, number>();
  const maps = obj.maps();
  if (transport === 'ringbuf') {
    // The perf scratch slots are never used on this path: keep one (a map cannot have none).
    if (maps.some((m) => m.name === 'tapio_scratch')) obj.setMapMaxEntries('tapio_scratch', 1);
    return perfRings;
  }
  const rings = maps.filter((m) => m.type === 'ringbuf');
  if (rings.length === 0) return perfRings;
  const one = Buffer.alloc(4);
  one.writeUInt32LE(1);
  try {
    obj.setRodata('tapio_use_perf', one);
  } catch (e) {
    throw new Error(`perf transport: cannot set tapio_use_perf (built without bpf/include/tapio.h?): ${(e as Error).message}`);
  }
  for (const m of rings) {
    perfRings.set(m.name, perfPagesPerCpu(m.maxEntries));
    // maxEntries 0: libbpf makes one slot per possible CPU.
    obj.setMapShape(m.name, { type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 0 });
  }
  return perfRings;
}
