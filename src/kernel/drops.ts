// The kernel half of drop accounting: every BPF object has a `tapio_drops` per-CPU array, one u64 slot per
// (event kind, reason) (bpf/include/tapio.h). Here we name the slots and sum them across CPUs.
import type { BpfMap } from './maps';

/** enum tapio_drop_reason, same order as bpf/include/tapio.h (a test checks it against the object's BTF). */
export const KERNEL_DROP_REASONS = ['ringbuf_full', 'sampled', 'rate_limited', 'map_full', 'read_failed', 'evicted'] as const;
export const DROP_REASON_SLOTS = 8;
export const KIND_SLOTS = 64;

/** enum tapio_kind: the record kinds, as numbers, with the event name each one produces. */
export const KIND_NAMES: Record<number, string> = {
  1: 'process.exec',
  2: 'process.exit',
  3: 'process.fork',
  8: 'network.tcp.connect',
  9: 'network.tcp.accept',
  10: 'network.tcp.close',
  11: 'network.tcp.connect_failed',
  12: 'network.tcp.retransmit',
  13: 'network.tcp.reset',
  16: 'tapio.cgroup.mkdir',
  17: 'tapio.cgroup.rmdir',
  31: 'test',
  60: 'l7.data',
  61: 'l7.close',
};

export interface KernelDropRow {
  kind: number;
  reason: number;
  count: number;
}

export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind_${kind}`;
}

export function reasonName(reason: number): string {
  return KERNEL_DROP_REASONS[reason] ?? `reason_${reason}`;
}

/** Non-zero slots of a tapio_drops map, summed across CPUs: one batch lookup for the whole map. */
export function readKernelDrops(map: BpfMap): KernelDropRow[] {
  const rows: KernelDropRow[] = [];
  for (const { key, value } of map.lookupAll()) {
    const i = key.readUInt32LE(0);
    if (i >= KIND_SLOTS * DROP_REASON_SLOTS) continue;
    const count = map.perCpu ? map.sumPerCpuU64(value) : value.readBigUInt64LE(0);
    if (count > 0n) rows.push({ kind: Math.floor(i / DROP_REASON_SLOTS), reason: i % DROP_REASON_SLOTS, count: Number(count) });
  }
  return rows.sort((a, b) => a.kind - b.kind || a.reason - b.reason);
}
