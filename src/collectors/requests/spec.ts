// The request-capture collector's hooks. Two plans, tried in order: the socket-length tracepoints (tp_btf, fire only
// for socket I/O; notes/l7.md measured them cheapest), else every syscall's exit (raw_tracepoint/sys_exit with an
// fd->socket walk; every syscall of the machine pays a little). A plan is used only when all its required hooks
// attach; the reasons the first failed stay visible in the hook status of the second.
import type { CollectorSpec, HookSpec } from '../../kernel/loader';

export const REQUESTS_RING = 'l7_events';

export interface RequestsSpecConfig {
  ringBufferBytes: number;
  connectionTableSize: number;
  cpus: number;
  /** SSL objects TLS capture tracks (collectors.requests.tls.sslTableSize), 0 without TLS capture: the l7 object
   *  creates the maps TLS capture shares with its socket programs (bpf/include/tls_sockets.h). */
  sslTableSize: number;
}

/** The maps of bpf/include/tls_sockets.h: created with the l7 object, reused by the TLS object. */
export const TLS_SHARED_MAPS = ['tls_threads', 'tls_ssl', 'tls_socks', 'tls_counters', 'tls_probes_live'] as const;

/** Connection state follows the plan's payload hooks: in the socket's own storage where every program holds a typed
 *  socket (the socket-length plan, all tp_btf), in a hash keyed by the socket's address otherwise (bpf/l7.bpf.c). */
const socketStorageStateHook: HookSpec = {
  name: 'tcp_state',
  implementations: [{ kind: 'tp_btf', program: 'l7_state_sk' }],
};

const hashStateHook: HookSpec = {
  name: 'tcp_state',
  implementations: [{ kind: 'tp_btf', program: 'l7_state_btf' }, { kind: 'tracepoint', program: 'l7_state_tp' }],
};

function maps(c: RequestsSpecConfig): Record<string, number> {
  const ssl = Math.max(1, c.sslTableSize); // LRU hashes are allocated whole: next to nothing without TLS capture
  return { [REQUESTS_RING]: c.ringBufferBytes, l7_conns: c.connectionTableSize, l7_scratch_map: Math.max(1, c.cpus), tls_ssl: ssl, tls_socks: ssl };
}

/** Preferred: payload at the socket layer, buffers from the thread's saved syscall registers. */
export function socketLengthSpec(c: RequestsSpecConfig): CollectorSpec {
  return {
    name: 'requests',
    object: 'l7.bpf.o',
    hooks: [
      socketStorageStateHook,
      { name: 'payload_send', implementations: [{ kind: 'tp_btf', program: 'l7_send_btf' }] },
      { name: 'payload_recv', implementations: [{ kind: 'tp_btf', program: 'l7_recv_btf' }] },
    ],
    mapMaxEntries: maps(c),
  };
}

/** Fallback: every syscall's exit; the read/write/send/recv family is picked out by number. */
export function syscallExitSpec(c: RequestsSpecConfig): CollectorSpec {
  return {
    name: 'requests',
    object: 'l7.bpf.o',
    hooks: [
      hashStateHook,
      { name: 'payload_syscalls', implementations: [{ kind: 'raw_tracepoint', program: 'l7_sys_exit_raw' }] },
    ],
    mapMaxEntries: maps(c),
  };
}

/** Every implementation, for `tapio probe`: the socket-length pair first, then the syscall-exit fallback. */
export function requestsHookPlan(): HookSpec[] {
  return [
    { name: 'tcp_state', implementations: [...socketStorageStateHook.implementations, ...hashStateHook.implementations] },
    {
      name: 'payload', implementations: [
        { kind: 'tp_btf', program: 'l7_send_btf' }, { kind: 'tp_btf', program: 'l7_recv_btf' },
        { kind: 'raw_tracepoint', program: 'l7_sys_exit_raw' },
      ],
    },
  ];
}
