// TLS capture's hooks. The static one attaches at load like every collector's: the close of a socket. The socket I/O
// that tells which socket an SSL object is on runs in request capture's socket programs (bpf/l7.bpf.c, on maps this
// object reuses: bpf/include/tls_sockets.h). The uprobes are declared here once too, but attach per file at run time
// (attach.ts): one entry and one return probe per OpenSSL function, with the failure of each kept in the kernel's
// words for that file.
import type { CollectorSpec, HookSpec } from '../../kernel/loader';

export const TLS_RING = 'tls_events';

export interface TlsSpecConfig {
  ringBufferBytes: number;
  cpus: number;
  /** The maps shared with request capture's l7 object, name -> fd (their sizes come with them). */
  sharedMaps?: Record<string, number>;
}

export function tlsSpec(c: TlsSpecConfig): CollectorSpec {
  return {
    name: 'requests.tls',
    object: 'tls.bpf.o',
    hooks: [
      { name: 'tls_socket_close', implementations: [{ kind: 'tp_btf', program: 'tls_state_btf' }, { kind: 'tracepoint', program: 'tls_state_tp' }] },
    ],
    mapMaxEntries: { [TLS_RING]: c.ringBufferBytes, tls_scratch: Math.max(1, c.cpus) },
    reuseMaps: c.sharedMaps,
  };
}

export interface TlsProbe {
  /** The OpenSSL function. */
  symbol: string;
  entry: string;
  exit?: string;
  /** A file that exports SSL_* but where this one fails to attach is reported as not attached. */
  required: boolean;
}

/** OpenSSL 1.1 and 3 share these signatures; the _ex pair exists from 1.1.1. */
export const TLS_PROBES: readonly TlsProbe[] = [
  { symbol: 'SSL_write', entry: 'tls_write_enter', exit: 'tls_write_exit', required: true },
  { symbol: 'SSL_read', entry: 'tls_read_enter', exit: 'tls_read_exit', required: true },
  { symbol: 'SSL_write_ex', entry: 'tls_write_ex_enter', exit: 'tls_write_exit', required: false },
  { symbol: 'SSL_read_ex', entry: 'tls_read_ex_enter', exit: 'tls_read_exit', required: false },
  { symbol: 'SSL_free', entry: 'tls_free_enter', required: false },
];

/** For `tapio probe`: the static hooks, then one hook per uprobe (attached per library at run time). */
export function tlsHookPlan(): HookSpec[] {
  return [
    ...tlsSpec({ ringBufferBytes: 1 << 20, cpus: 1 }).hooks,
    ...TLS_PROBES.map((p): HookSpec => ({
      name: `tls_${p.symbol}`, optional: !p.required, implementations: [
        { kind: 'uprobe', program: p.entry, target: { functionName: p.symbol } },
        ...(p.exit ? [{ kind: 'uretprobe' as const, program: p.exit, target: { functionName: p.symbol } }] : []),
      ],
    })),
  ];
}
