// The catalog of security detections: each event name with its default severity, MITRE ATT&CK technique, default
// scope, the kernel detection (enum sec_detection in bpf/include/security.h) that feeds it, and the hooks it needs.
// The collector attaches only the hooks of enabled detections (every syscall tracepoint taxes the whole node).
import type { HookSpec } from '../../kernel/loader';

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type Scope = 'containers' | 'all';

/** enum sec_detection (bpf/include/security.h). */
export const DET = {
  SETNS: 1, UNSHARE: 2, CLONE_NS: 3, MOUNT: 4, CHROOT: 5, MODULE_LOAD: 6, BPF_LOAD: 7, RUNTIME_SOCKET: 8,
  FILE_OPEN: 9, FILE_LINK: 10, SETUID_EXEC: 11, CRED_CHANGE: 12, PTRACE: 13, SETUID_BIT: 14, EXEC_FILELESS: 15,
  EXEC_DROPPED: 16, EXEC_PATH: 17, SHELL_TTY: 18, SHELL_SOCKET: 19, USERNS: 20,
} as const;

export interface Detection {
  /** Event name without the `security.` prefix; also the key in config `collectors.security.detections`. */
  name: string;
  severity: Severity;
  /** MITRE ATT&CK technique id and name. */
  technique: string;
  techniqueName: string;
  /** Which processes are reported by default: only containerised ones, or every process. */
  scope: Scope;
  /** Kernel detections whose records can become this event. */
  kernel: number[];
  summary: string;
}

export const DETECTIONS: Detection[] = [
  { name: 'namespace.escape', severity: 'high', technique: 'T1611', techniqueName: 'Escape to Host', scope: 'all', kernel: [DET.SETNS],
    summary: 'a containerised process joined a host namespace (setns)' },
  { name: 'namespace.enter', severity: 'low', technique: 'T1609', techniqueName: 'Container Administration Command', scope: 'all', kernel: [DET.SETNS],
    summary: 'a host process entered a container\'s namespaces (nsenter)' },
  { name: 'namespace.change', severity: 'medium', technique: 'T1611', techniqueName: 'Escape to Host', scope: 'containers', kernel: [DET.SETNS, DET.UNSHARE, DET.CLONE_NS],
    summary: 'a containerised process made or joined other namespaces (unshare, clone, setns)' },
  { name: 'host.mount', severity: 'high', technique: 'T1611', techniqueName: 'Escape to Host', scope: 'containers', kernel: [DET.MOUNT],
    summary: 'mount or the new mount API (fsopen, fsmount, move_mount, mount_setattr, open_tree clone)' },
  { name: 'host.chroot', severity: 'medium', technique: 'T1611', techniqueName: 'Escape to Host', scope: 'containers', kernel: [DET.CHROOT],
    summary: 'chroot or pivot_root' },
  { name: 'host.escape_lever', severity: 'critical', technique: 'T1611', techniqueName: 'Escape to Host', scope: 'containers', kernel: [DET.FILE_OPEN],
    summary: 'write access to cgroup release_agent/notify_on_release, core_pattern or sysrq-trigger' },
  { name: 'host.module_load', severity: 'high', technique: 'T1547.006', techniqueName: 'Kernel Modules and Extensions', scope: 'all', kernel: [DET.MODULE_LOAD],
    summary: 'init_module / finit_module' },
  { name: 'host.bpf_load', severity: 'medium', technique: 'T1014', techniqueName: 'Rootkit', scope: 'all', kernel: [DET.BPF_LOAD],
    summary: 'a BPF program load by anyone but the agent' },
  { name: 'host.runtime_socket', severity: 'high', technique: 'T1609', techniqueName: 'Container Administration Command', scope: 'containers', kernel: [DET.RUNTIME_SOCKET],
    summary: 'connect to a container runtime API socket' },
  { name: 'privilege.setuid_exec', severity: 'medium', technique: 'T1548.001', techniqueName: 'Setuid and Setgid', scope: 'containers', kernel: [DET.SETUID_EXEC],
    summary: 'exec of a set-id file that changed the effective ids' },
  { name: 'privilege.cred_change', severity: 'high', technique: 'T1548', techniqueName: 'Abuse Elevation Control Mechanism', scope: 'containers', kernel: [DET.CRED_CHANGE],
    summary: 'uid/gid to 0 or new capabilities outside exec (setuid family, capset)' },
  { name: 'privilege.ptrace', severity: 'medium', technique: 'T1055.008', techniqueName: 'Ptrace System Calls', scope: 'containers', kernel: [DET.PTRACE],
    summary: 'ptrace attach, seize or poke of another process' },
  { name: 'privilege.userns', severity: 'medium', technique: 'T1068', techniqueName: 'Exploitation for Privilege Escalation', scope: 'containers', kernel: [DET.USERNS],
    summary: 'a user namespace made by a process without euid 0' },
  { name: 'privilege.setuid_bit', severity: 'medium', technique: 'T1548.001', techniqueName: 'Setuid and Setgid', scope: 'containers', kernel: [DET.SETUID_BIT],
    summary: 'the setuid or setgid bit set on a file (chmod family)' },
  { name: 'file.credential_read', severity: 'high', technique: 'T1552.001', techniqueName: 'Credentials In Files', scope: 'containers', kernel: [DET.FILE_OPEN],
    summary: 'read of credentials or secrets (shadow, sudoers, SSH keys, tokens, kubelet and cloud credentials)' },
  { name: 'file.system_write', severity: 'medium', technique: 'T1554', techniqueName: 'Compromise Host Software Binary', scope: 'containers', kernel: [DET.FILE_OPEN],
    summary: 'write below /etc or binary/library directories' },
  { name: 'file.link', severity: 'medium', technique: 'T1552.001', techniqueName: 'Credentials In Files', scope: 'containers', kernel: [DET.FILE_LINK],
    summary: 'a symlink or hard link made to a sensitive file' },
  { name: 'exec.fileless', severity: 'high', technique: 'T1620', techniqueName: 'Reflective Code Loading', scope: 'containers', kernel: [DET.EXEC_FILELESS],
    summary: 'exec of a file with no name (memfd, deleted)' },
  { name: 'exec.dropped_binary', severity: 'high', technique: 'T1105', techniqueName: 'Ingress Tool Transfer', scope: 'containers', kernel: [DET.EXEC_DROPPED],
    summary: 'exec of a binary written or changed after its container started (not from the image)' },
  { name: 'exec.temp_dir', severity: 'medium', technique: 'T1059', techniqueName: 'Command and Scripting Interpreter', scope: 'containers', kernel: [DET.EXEC_PATH],
    summary: 'exec from /tmp, /dev/shm or another watched directory' },
  { name: 'exec.interactive_shell', severity: 'low', technique: 'T1059.004', techniqueName: 'Unix Shell', scope: 'containers', kernel: [DET.SHELL_TTY],
    summary: 'a shell with a terminal on stdin in a container' },
  { name: 'exec.reverse_shell', severity: 'critical', technique: 'T1059.004', techniqueName: 'Unix Shell', scope: 'containers', kernel: [DET.SHELL_SOCKET],
    summary: 'a shell whose stdin or stdout is a socket' },
];

export const detectionByName = new Map(DETECTIONS.map((d) => [d.name, d]));

const tp = (program: string) => ({ kind: 'tracepoint' as const, program });

/** The hooks each kernel detection needs, by preference. Names are what status and `tapio probe` show. */
export const KERNEL_HOOKS: Record<number, HookSpec[]> = {
  [DET.SETNS]: [{ name: 'setns-enter', implementations: [tp('setns_enter')] }, { name: 'setns-exit', implementations: [tp('setns_exit')] }],
  [DET.UNSHARE]: [{ name: 'unshare-enter', implementations: [tp('unshare_enter')] }, { name: 'unshare-exit', implementations: [tp('unshare_exit')] }],
  [DET.USERNS]: [{ name: 'unshare-enter', implementations: [tp('unshare_enter')] }, { name: 'unshare-exit', implementations: [tp('unshare_exit')] },
    { name: 'clone-ns', implementations: [{ kind: 'tp_btf', program: 'fork_btf' }, { kind: 'raw_tracepoint', program: 'fork_raw' }] }],
  [DET.CLONE_NS]: [{ name: 'clone-ns', implementations: [{ kind: 'tp_btf', program: 'fork_btf' }, { kind: 'raw_tracepoint', program: 'fork_raw' }] }],
  [DET.MOUNT]: [
    { name: 'mount', implementations: [{ kind: 'lsm', program: 'lsm_sb_mount' }, tp('mount_exit')] },
    { name: 'fsopen', implementations: [tp('fsopen_exit')] }, { name: 'fsmount', implementations: [tp('fsmount_exit')] },
    { name: 'move-mount', implementations: [tp('move_mount_exit')] }, { name: 'mount-setattr', implementations: [tp('mount_setattr_exit')] },
    { name: 'open-tree', implementations: [tp('open_tree_exit')] }],
  [DET.CHROOT]: [{ name: 'chroot', implementations: [tp('chroot_exit')] }, { name: 'pivot-root', implementations: [tp('pivot_root_exit')] }],
  [DET.MODULE_LOAD]: [
    { name: 'module-load', implementations: [{ kind: 'lsm', program: 'lsm_kernel_read_file' }, tp('finit_module_exit')] },
    { name: 'module-init', implementations: [tp('init_module_exit')] }],
  [DET.BPF_LOAD]: [{ name: 'bpf', implementations: [tp('bpf_exit')] }],
  [DET.RUNTIME_SOCKET]: [{ name: 'connect', implementations: [tp('connect_exit')] }],
  [DET.FILE_OPEN]: [
    { name: 'file-open', implementations: [{ kind: 'lsm', program: 'lsm_file_open' }, tp('openat_exit')] },
    { name: 'file-open-openat2', implementations: [tp('openat2_exit')] },
    { name: 'file-open-legacy', implementations: [tp('open_exit')] }],
  [DET.FILE_LINK]: ['symlink', 'symlinkat', 'link', 'linkat'].map((s) => ({ name: s, implementations: [tp(`${s}_exit`)] })),
  [DET.CRED_CHANGE]: ['setuid', 'setreuid', 'setresuid', 'setgid', 'setregid', 'setresgid', 'capset'].flatMap((s) => [
    { name: `${s}-enter`, implementations: [tp(`${s}_enter`)] }, { name: `${s}-exit`, implementations: [tp(`${s}_exit`)] }]),
  [DET.PTRACE]: [{ name: 'ptrace', implementations: [{ kind: 'lsm', program: 'lsm_ptrace' }, tp('ptrace_exit')] }],
  [DET.SETUID_BIT]: ['chmod', 'fchmod', 'fchmodat', 'fchmodat2'].map((s) => ({ name: s, implementations: [tp(`${s}_exit`)] })),
};
const EXEC_HOOK: HookSpec = { name: 'exec', implementations: [{ kind: 'tp_btf', program: 'exec_btf' }, { kind: 'tracepoint', program: 'exec_tp' }] };
for (const d of [DET.SETUID_EXEC, DET.EXEC_FILELESS, DET.EXEC_DROPPED, DET.EXEC_PATH, DET.SHELL_TTY, DET.SHELL_SOCKET]) KERNEL_HOOKS[d] = [EXEC_HOOK];

/** Hook name -> the sec_op bit its LSM form owns (its tracepoint forms stand down when the LSM form is attached). */
export const LSM_OPS: Record<string, number> = { mount: 1, 'file-open': 18, ptrace: 21, 'module-load': 27 };

/** Every hook the given kernel detections need, each once, all optional (one missing syscall never stops the rest). */
export function hooksFor(kernelDetections: Iterable<number>): HookSpec[] {
  const byName = new Map<string, HookSpec>();
  for (const d of kernelDetections) for (const h of KERNEL_HOOKS[d] ?? []) if (!byName.has(h.name)) byName.set(h.name, { ...h, optional: true });
  return [...byName.values()];
}
