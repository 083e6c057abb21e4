// The kernel half of drop accounting: every BPF object has a `tapio_drops` per-CPU array, one u64 slot per
// (event kind, reason) (bpf/include/tapio.h). Here we name the slots and sum them across CPUs. The numbers come from
// the generated layouts (enum tapio_kind, enum tapio_drop_reason); only the names are written here.
import type { BpfMap } from './maps';
import * as L from './layouts.generated';

/** enum tapio_drop_reason, indexed by value: TAPIO_DROP_RINGBUF_FULL is 'ringbuf_full', and so on. */
export const KERNEL_DROP_REASONS: readonly string[] = Object.entries(L.ENUMS.tapio_drop_reason)
  .filter(([c]) => c !== 'TAPIO_DROP_REASON_MAX')
  .reduce<string[]>((names, [c, v]) => { names[v] = c.replace(/^TAPIO_DROP_/, '').toLowerCase(); return names; }, []);
export const DROP_REASON_SLOTS = L.TAPIO_DROP_REASON_MAX;
export const KIND_SLOTS = L.TAPIO_KIND_MAX;

/** enum tapio_kind: the record kinds, as numbers, with the event name each one produces. A test checks that every
 *  kind in the enum (but NONE and MAX) has a name here. */
export const KIND_NAMES: Record<number, string> = {
  [L.TAPIO_KIND_PROC_EXEC]: 'process.exec',
  [L.TAPIO_KIND_PROC_EXIT]: 'process.exit',
  [L.TAPIO_KIND_PROC_FORK]: 'process.fork',
  [L.TAPIO_KIND_TCP_CONNECT]: 'network.tcp.connect',
  [L.TAPIO_KIND_TCP_ACCEPT]: 'network.tcp.accept',
  [L.TAPIO_KIND_TCP_CLOSE]: 'network.tcp.close',
  [L.TAPIO_KIND_TCP_CONNECT_FAILED]: 'network.tcp.connect_failed',
  [L.TAPIO_KIND_TCP_RETRANSMIT]: 'network.tcp.retransmit',
  [L.TAPIO_KIND_TCP_RESET]: 'network.tcp.reset',
  [L.TAPIO_KIND_CGROUP_MKDIR]: 'tapio.cgroup.mkdir',
  [L.TAPIO_KIND_CGROUP_RMDIR]: 'tapio.cgroup.rmdir',
  [L.TAPIO_KIND_SEC_NAMESPACE]: 'security.namespace',
  [L.TAPIO_KIND_SEC_HOST]: 'security.host',
  [L.TAPIO_KIND_SEC_PRIVILEGE]: 'security.privilege',
  [L.TAPIO_KIND_SEC_FILE]: 'security.file',
  [L.TAPIO_KIND_SEC_EXEC]: 'security.exec',
  [L.TAPIO_KIND_TEST]: 'test',
  [L.TAPIO_KIND_SECCOMP_SIGNAL]: 'security.seccomp.violation',
  [L.TAPIO_KIND_SECCOMP_ERRNO]: 'security.seccomp.violation.errno',
  [L.TAPIO_KIND_NETFILTER_DROP]: 'security.network.policy_drop',
  [L.TAPIO_KIND_L7_DATA]: 'l7.data',
  [L.TAPIO_KIND_L7_CLOSE]: 'l7.close',
  [L.TAPIO_KIND_TLS_DATA]: 'tls.data',
  [L.TAPIO_KIND_TLS_CLOSE]: 'tls.close',
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
  map.forEachU64((i, count) => {
    if (i < KIND_SLOTS * DROP_REASON_SLOTS && count > 0) rows.push({ kind: Math.floor(i / DROP_REASON_SLOTS), reason: i % DROP_REASON_SLOTS, count });
  });
  return rows.sort((a, b) => a.kind - b.kind || a.reason - b.reason);
}
