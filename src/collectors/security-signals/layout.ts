// The security-signals collector's names for its records (bpf/include/security_signals.h). Every number comes from
// the generated layouts (src/kernel/layouts.generated.ts); nothing is typed here.
import * as L from '../../kernel/layouts.generated';

export const KIND_SECCOMP_SIGNAL = L.TAPIO_KIND_SECCOMP_SIGNAL;
export const KIND_SECCOMP_ERRNO = L.TAPIO_KIND_SECCOMP_ERRNO;
export const KIND_NETFILTER_DROP = L.TAPIO_KIND_NETFILTER_DROP;

export const SRC_SIGSYS_BTF = L.SECCOMP_SRC_SIGSYS_BTF;
export const SRC_SIGSYS_TP = L.SECCOMP_SRC_SIGSYS_TP;
export const SRC_NO_ENTER = L.SECCOMP_SRC_NO_ENTER;

export const DIR_EGRESS = L.NF_DIR_EGRESS;
export const DIR_INGRESS = L.NF_DIR_INGRESS;

/** task->seccomp.mode of a task being killed by its filter (SECCOMP_MODE_DEAD in the kernel; not in our BTF). */
export const SECCOMP_MODE_DEAD = 3;
export const COMM_LEN = L.TAPIO_COMM_LEN;
export const EXE_PARTS = L.TAPIO_EXE_PARTS;
export const EXE_PART_LEN = L.TAPIO_EXE_PART_LEN;
export const EXE_DEEPER = L.TAPIO_EXE_DEEPER;
export const ANCESTOR = L.STRUCTS.tapio_ancestor;
export const ANCESTORS = L.TAPIO_ANCESTORS;

export const SECCOMP_RECORD = L.STRUCTS.seccomp_record;
export const NETFILTER_DROP_RECORD = L.STRUCTS.netfilter_drop_record;
