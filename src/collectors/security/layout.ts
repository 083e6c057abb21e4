// Byte layouts of the security collector's record, settings and path rules (bpf/include/security.h), and their
// encoders. test/collectors/security-layout.test.ts checks each one against the BTF of bpf/.output/security.bpf.o.
import { HEADER_FIELDS } from '../record-header';

export const KIND_SEC_NAMESPACE = 20;
export const KIND_SEC_HOST = 21;
export const KIND_SEC_PRIVILEGE = 22;
export const KIND_SEC_FILE = 23;
export const KIND_SEC_EXEC = 24;
export const SECURITY_KINDS = [KIND_SEC_NAMESPACE, KIND_SEC_HOST, KIND_SEC_PRIVILEGE, KIND_SEC_FILE, KIND_SEC_EXEC];

export const COMM_LEN = 16;
export const PATH_LEN = 256;
export const ANCESTORS = 6;
export const NS_COUNT = 7;
export const MAX_RULES = 64;
export const RULE_LEN = 64;
/** enum sec_ns order. */
export const NS_NAMES = ['mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup', 'user'] as const;

export const F_CONTAINER = 1;
export const F_NO_ENTER = 2;
export const F_PATH_RESOLVED = 4;
export const F_PATH_TRUNCATED = 8;
export const F_EXE_TRUNCATED = 16;
export const F_LSM = 32;

export const RULE_PREFIX = 1;
export const RULE_SUFFIX = 2;
export const RULE_READ = 4;
export const RULE_WRITE = 8;
export const RULE_EXEC = 16;
export const RULE_CONNECT = 32;
export const RULE_HOST = 64;

/** enum sec_op, by number: the syscall (or LSM hook) that made a record. */
export const OP_NAMES: Record<number, string> = {
  1: 'mount', 2: 'fsopen', 3: 'fsmount', 4: 'move_mount', 5: 'mount_setattr', 6: 'open_tree', 7: 'chroot', 8: 'pivot_root',
  9: 'setuid', 10: 'setreuid', 11: 'setresuid', 12: 'setgid', 13: 'setregid', 14: 'setresgid', 15: 'capset',
  16: 'symlink', 17: 'link', 18: 'open', 19: 'exec', 20: 'connect', 21: 'ptrace', 22: 'chmod', 23: 'bpf', 24: 'setns',
  25: 'unshare', 26: 'clone', 27: 'finit_module', 28: 'init_module',
};
export const OP_LSM = 0x80;

export const SEC_RECORD = {
  name: 'sec_record',
  size: 872,
  fields: {
    ...HEADER_FIELDS,
    detection: { offset: 32, size: 2 },
    op: { offset: 34, size: 2 },
    flags: { offset: 36, size: 4 },
    ret: { offset: 40, size: 8 },
    arg0: { offset: 48, size: 8 },
    arg1: { offset: 56, size: 8 },
    rule: { offset: 64, size: 4 },
    target_pid: { offset: 68, size: 4 },
    ppid: { offset: 72, size: 4 },
    uid: { offset: 76, size: 4 },
    euid: { offset: 80, size: 4 },
    gid: { offset: 84, size: 4 },
    egid: { offset: 88, size: 4 },
    old_uid: { offset: 92, size: 4 },
    old_euid: { offset: 96, size: 4 },
    old_gid: { offset: 100, size: 4 },
    old_egid: { offset: 104, size: 4 },
    ancestor_count: { offset: 108, size: 4 },
    cap_effective: { offset: 112, size: 8 },
    old_cap_effective: { offset: 120, size: 8 },
    start_boot_ns: { offset: 128, size: 8 },
    ns_before: { offset: 136, size: 4 * NS_COUNT },
    ns_after: { offset: 164, size: 4 * NS_COUNT },
    path_len: { offset: 192, size: 2 },
    exe_len: { offset: 194, size: 2 },
    comm: { offset: 196, size: COMM_LEN },
    ancestors: { offset: 212, size: 24 * ANCESTORS },
    path: { offset: 356, size: PATH_LEN },
    exe: { offset: 612, size: PATH_LEN },
  },
} as const;

export const ANCESTOR = { name: 'sec_ancestor', size: 24, fields: { pid: { offset: 0, size: 4 }, _pad: { offset: 4, size: 4 }, comm: { offset: 8, size: COMM_LEN } } } as const;

export const SETTINGS = {
  name: 'sec_settings',
  size: 56,
  fields: {
    enabled_mask: { offset: 0, size: 4 },
    host_scope_mask: { offset: 4, size: 4 },
    agent_tgid: { offset: 8, size: 4 },
    lsm_mask: { offset: 12, size: 4 },
    host_ns: { offset: 16, size: 4 * NS_COUNT },
    _pad: { offset: 44, size: 4 },
    boot_to_wall_ns: { offset: 48, size: 8 },
  },
} as const;

export const PATH_RULE = {
  name: 'sec_path_rule',
  size: 72,
  fields: { len: { offset: 0, size: 4 }, flags: { offset: 4, size: 4 }, pattern: { offset: 8, size: RULE_LEN } },
} as const;

export interface KernelSettings {
  enabledMask: number;
  hostScopeMask: number;
  agentTgid: number;
  lsmMask: number;
  hostNs: number[];
  bootToWallNs: bigint;
}

export function encodeSettings(s: KernelSettings): Buffer {
  const b = Buffer.alloc(SETTINGS.size);
  const f = SETTINGS.fields;
  b.writeUInt32LE(s.enabledMask >>> 0, f.enabled_mask.offset);
  b.writeUInt32LE(s.hostScopeMask >>> 0, f.host_scope_mask.offset);
  b.writeUInt32LE(s.agentTgid >>> 0, f.agent_tgid.offset);
  b.writeUInt32LE(s.lsmMask >>> 0, f.lsm_mask.offset);
  for (let i = 0; i < NS_COUNT; i++) b.writeUInt32LE((s.hostNs[i] ?? 0) >>> 0, f.host_ns.offset + 4 * i);
  b.writeBigInt64LE(s.bootToWallNs, f.boot_to_wall_ns.offset);
  return b;
}

export function encodePathRule(pattern: string, flags: number): Buffer {
  const b = Buffer.alloc(PATH_RULE.size);
  const bytes = Buffer.from(pattern, 'utf8');
  if (bytes.length === 0 || bytes.length >= RULE_LEN) throw new Error(`path rule '${pattern}': 1 to ${RULE_LEN - 1} bytes`);
  b.writeUInt32LE(bytes.length, PATH_RULE.fields.len.offset);
  b.writeUInt32LE(flags, PATH_RULE.fields.flags.offset);
  bytes.copy(b, PATH_RULE.fields.pattern.offset);
  return b;
}

/** A shell name as the key of security_shells: comm bytes, NUL-padded to 16. */
export function encodeShell(name: string): Buffer {
  const b = Buffer.alloc(COMM_LEN);
  Buffer.from(name, 'utf8').copy(b, 0, 0, COMM_LEN - 1);
  return b;
}
