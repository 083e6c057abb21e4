// The event kinds the kernel side can produce, by name: the vocabulary config validates against (rate limits and
// sampling are keyed by these names). Their numbers are the kernel's business (src/kernel/drops.ts maps enum
// tapio_kind to these names, and a test keeps both lists equal).
export const KERNEL_EVENT_KINDS = [
  'process.exec',
  'process.exit',
  'process.fork',
  'network.tcp.connect',
  'network.tcp.accept',
  'network.tcp.close',
  'network.tcp.connect_failed',
  'network.tcp.retransmit',
  'network.tcp.reset',
  'tapio.cgroup.mkdir',
  'tapio.cgroup.rmdir',
  /** Request-level capture (bpf/l7.bpf.c): payload bytes of an HTTP connection, and its close. */
  'l7.data',
  'l7.close',
  /** TLS plaintext (bpf/tls.bpf.c): one SSL_read/SSL_write call's bytes, and the end of an SSL stream. */
  'tls.data',
  'tls.close',
  /** The project's own kernel tests (bpf/testing). */
  'test',
  /** bpf/security.bpf.c: escapes, host operations, privilege escalation, sensitive files, suspicious execution. */
  'security.namespace',
  'security.host',
  'security.privilege',
  'security.file',
  'security.exec',
  /** bpf/security_signals.bpf.c: SIGSYS from seccomp, ERRNO denials of watched syscalls, netfilter drops. */
  'security.seccomp.violation',
  'security.seccomp.violation.errno',
  'security.network.policy_drop',
] as const;

export type KernelEventKind = (typeof KERNEL_EVENT_KINDS)[number];
