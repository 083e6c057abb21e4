// The syscalls whose ERRNO denials by seccomp can be watched (each has an enter/exit program pair in
// bpf/security_signals.bpf.c), their x86_64 and aarch64 numbers for naming SIGSYS and audit records, and the default watch list:
// syscalls that container runtimes' default profiles deny and that a normal workload does not call.

/** Tracepoint names (sys_enter_<name>) with an enter/exit pair in the object. `umount` is umount2's tracepoint. */
export const WATCHABLE_SYSCALLS = [
  'unshare', 'setns', 'mount', 'umount', 'pivot_root', 'chroot', 'bpf', 'perf_event_open', 'keyctl', 'add_key',
  'request_key', 'ptrace', 'personality', 'open_by_handle_at', 'userfaultfd', 'kexec_load', 'init_module',
  'finit_module', 'delete_module', 'reboot', 'swapon', 'syslog', 'fsopen', 'fsmount', 'move_mount', 'mount_setattr',
  'io_uring_setup', 'clock_settime', 'settimeofday',
] as const;
export type WatchableSyscall = (typeof WATCHABLE_SYSCALLS)[number];

/** Quiet by default: escape and kernel-attack levers only. personality, clock_settime, ptrace, syslog and
 *  io_uring_setup are left out: runtimes deny them too, but ordinary programs probe them and handle the error. */
export const DEFAULT_WATCHED_SYSCALLS: WatchableSyscall[] = [
  'unshare', 'setns', 'mount', 'umount', 'pivot_root', 'bpf', 'perf_event_open', 'keyctl', 'add_key', 'request_key',
  'open_by_handle_at', 'kexec_load', 'init_module', 'finit_module', 'delete_module', 'fsopen', 'fsmount',
  'move_mount', 'mount_setattr',
];

/** x86_64 syscall numbers of interest (names for SIGSYS and audit records; others are shown as syscall_<n>). */
const X86_64: Record<number, string> = {
  0: 'read', 1: 'write', 2: 'open', 3: 'close', 9: 'mmap', 39: 'getpid', 56: 'clone', 57: 'fork', 59: 'execve',
  63: 'uname', 101: 'ptrace', 102: 'getuid', 103: 'syslog', 105: 'setuid', 110: 'getppid', 135: 'personality', 155: 'pivot_root',
  161: 'chroot', 164: 'settimeofday', 165: 'mount', 166: 'umount2', 167: 'swapon', 169: 'reboot', 175: 'init_module',
  176: 'delete_module', 227: 'clock_settime', 246: 'kexec_load', 248: 'add_key', 249: 'request_key', 250: 'keyctl',
  257: 'openat', 272: 'unshare', 298: 'perf_event_open', 304: 'open_by_handle_at', 308: 'setns', 313: 'finit_module',
  321: 'bpf', 322: 'execveat', 323: 'userfaultfd', 425: 'io_uring_setup', 428: 'open_tree', 429: 'move_mount',
  430: 'fsopen', 431: 'fsconfig', 432: 'fsmount', 435: 'clone3', 442: 'mount_setattr',
};

/** aarch64 numbers (the generic table, asm-generic/unistd.h): no open, fork or umount; umount2 is 39. */
const AARCH64: Record<number, string> = {
  39: 'umount2', 40: 'mount', 41: 'pivot_root', 51: 'chroot', 56: 'openat', 57: 'close', 63: 'read', 64: 'write',
  92: 'personality', 97: 'unshare', 104: 'kexec_load', 105: 'init_module', 106: 'delete_module', 112: 'clock_settime',
  116: 'syslog', 117: 'ptrace', 142: 'reboot', 146: 'setuid', 160: 'uname', 170: 'settimeofday', 172: 'getpid',
  173: 'getppid', 174: 'getuid', 217: 'add_key', 218: 'request_key', 219: 'keyctl', 220: 'clone', 221: 'execve',
  222: 'mmap', 224: 'swapon', 241: 'perf_event_open', 265: 'open_by_handle_at', 268: 'setns', 273: 'finit_module',
  280: 'bpf', 281: 'execveat', 282: 'userfaultfd', 425: 'io_uring_setup', 428: 'open_tree', 429: 'move_mount',
  430: 'fsopen', 431: 'fsconfig', 432: 'fsmount', 435: 'clone3', 442: 'mount_setattr',
};

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** The AUDIT_ARCH_* of this process's architecture (what a record's arch 0, "native", means). */
export const NATIVE_AUDIT_ARCH = process.arch === 'arm64' ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_X86_64;

const TABLES: Record<number, Record<number, string>> = { [AUDIT_ARCH_X86_64]: X86_64, [AUDIT_ARCH_AARCH64]: AARCH64 };

/** The syscall's name for an architecture (AUDIT_ARCH_*; 0 is this machine's own); unknown ones give syscall_<n>. */
export function syscallName(nr: number, arch = NATIVE_AUDIT_ARCH): string {
  if (nr < 0) return 'unknown';
  return TABLES[arch === 0 ? NATIVE_AUDIT_ARCH : arch]?.[nr] ?? `syscall_${nr}`;
}
