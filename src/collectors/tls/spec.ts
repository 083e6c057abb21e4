// TLS capture's hooks. Static ones attach at load like every collector's: the socket I/O that tells which socket an
// SSL object is on (tp_btf only: without them every call is still reported, unmapped) and the close of a socket.
// The uprobes are declared here once too, but attach per file at run time (attach.ts): one entry and one return
// probe per OpenSSL function, with the failure of each kept in the kernel's words for that file.
import type { CollectorSpec, HookSpec } from '../../kernel/loader';

export const TLS_RING = 'tls_events';

export interface TlsSpecConfig {
  ringBufferBytes: number;
  sslTableSize: number;
  cpus: number;
}

export function tlsSpec(c: TlsSpecConfig): CollectorSpec {
  return {
    name: 'requests.tls',
    object: 'tls.bpf.o',
    hooks: [
      { name: 'tls_socket_close', implementations: [{ kind: 'tp_btf', program: 'tls_state_btf' }, { kind: 'tracepoint', program: 'tls_state_tp' }] },
      { name: 'tls_socket_send', optional: true, implementations: [{ kind: 'tp_btf', program: 'tls_send_btf' }] },
      { name: 'tls_socket_recv', optional: true, implementations: [{ kind: 'tp_btf', program: 'tls_recv_btf' }] },
    ],
    mapMaxEntries: { [TLS_RING]: c.ringBufferBytes, tls_ssl: c.sslTableSize, tls_socks: c.sslTableSize, tls_scratch: Math.max(1, c.cpus) },
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
    ...tlsSpec({ ringBufferBytes: 1 << 20, sslTableSize: 1024, cpus: 1 }).hooks,
    ...TLS_PROBES.map((p): HookSpec => ({
      name: `tls_${p.symbol}`, optional: !p.required, implementations: [
        { kind: 'uprobe', program: p.entry, target: { functionName: p.symbol } },
        ...(p.exit ? [{ kind: 'uretprobe' as const, program: p.exit, target: { functionName: p.symbol } }] : []),
      ],
    })),
  ];
}
