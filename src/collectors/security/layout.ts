// Byte layouts of the security collector's record, settings and path rules (bpf/include/security.h), and their
// encoders. Every number comes from the generated layouts (src/kernel/layouts.generated.ts).
import * as L from '../../kernel/layouts.generated';

export const KIND_SEC_NAMESPACE = L.TAPIO_KIND_SEC_NAMESPACE;
export const KIND_SEC_HOST = L.TAPIO_KIND_SEC_HOST;
export const KIND_SEC_PRIVILEGE = L.TAPIO_KIND_SEC_PRIVILEGE;
export const KIND_SEC_FILE = L.TAPIO_KIND_SEC_FILE;
export const KIND_SEC_EXEC = L.TAPIO_KIND_SEC_EXEC;
export const SECURITY_KINDS: number[] = [KIND_SEC_NAMESPACE, KIND_SEC_HOST, KIND_SEC_PRIVILEGE, KIND_SEC_FILE, KIND_SEC_EXEC];

export const COMM_LEN = L.SEC_COMM_LEN;
export const PATH_LEN = L.SEC_PATH_LEN;
export const ANCESTORS = L.SEC_ANCESTORS;
export const NS_COUNT = L.SEC_NS_COUNT;
export const MAX_RULES = L.SEC_MAX_RULES;
export const RULE_LEN = L.SEC_RULE_LEN;
/** enum sec_ns order. */
export const NS_NAMES = ['mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup', 'user'] as const;

export const F_CONTAINER = L.SEC_F_CONTAINER;
export const F_NO_ENTER = L.SEC_F_NO_ENTER;
export const F_PATH_RESOLVED = L.SEC_F_PATH_RESOLVED;
export const F_PATH_TRUNCATED = L.SEC_F_PATH_TRUNCATED;
export const F_EXE_TRUNCATED = L.SEC_F_EXE_TRUNCATED;
export const F_LSM = L.SEC_F_LSM;

export const RULE_PREFIX = L.SEC_RULE_PREFIX;
export const RULE_SUFFIX = L.SEC_RULE_SUFFIX;
export const RULE_READ = L.SEC_RULE_READ;
export const RULE_WRITE = L.SEC_RULE_WRITE;
export const RULE_EXEC = L.SEC_RULE_EXEC;
export const RULE_CONNECT = L.SEC_RULE_CONNECT;
export const RULE_HOST = L.SEC_RULE_HOST;

/** enum sec_op by number (SEC_OP_MOUNT -> 'mount'): the syscall, or LSM hook, that made a record. */
export const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(L.ENUMS.sec_op)
  .filter(([c]) => c !== 'SEC_OP_NONE' && c !== 'SEC_OP_LSM').map(([c, v]) => [v, c.replace(/^SEC_OP_/, '').toLowerCase()]));
export const OP_LSM = L.SEC_OP_LSM;

export const SEC_RECORD = L.STRUCTS.sec_record;
export const SETTINGS = L.STRUCTS.sec_settings;
export const PATH_RULE = L.STRUCTS.sec_path_rule;
export const ANCESTOR_SIZE = L.STRUCTS.sec_ancestor.size;
export const ANCESTOR_COMM_OFFSET = L.STRUCTS.sec_ancestor.fields.comm.offset;

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
