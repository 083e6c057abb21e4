// Byte layout of the security-signals records (bpf/include/security_signals.h), as the decoder reads them.
// test/collectors/layout.test.ts checks them against the BTF of bpf/.output/security_signals.bpf.o.
import { HEADER_FIELDS } from '../record-header';

export const KIND_SECCOMP_SIGNAL = 40;
export const KIND_SECCOMP_ERRNO = 41;
export const KIND_NETFILTER_DROP = 42;

export const SRC_SIGSYS_BTF = 1;
export const SRC_SIGSYS_TP = 2;
export const SRC_NO_ENTER = 3;

export const DIR_EGRESS = 1;
export const DIR_INGRESS = 2;

export const SECCOMP_MODE_DEAD = 3;
export const COMM_LEN = 16;

export const SECCOMP_RECORD = {
  name: 'seccomp_record',
  size: 72,
  fields: {
    ...HEADER_FIELDS,
    syscall_nr: { offset: 32, size: 4 },
    arch: { offset: 36, size: 4 },
    value: { offset: 40, size: 4 },
    seccomp_mode: { offset: 44, size: 4 },
    uid: { offset: 48, size: 4 },
    source: { offset: 52, size: 1 },
    comm: { offset: 56, size: 16 },
  },
} as const;

export const NETFILTER_DROP_RECORD = {
  name: 'netfilter_drop_record',
  size: 112,
  fields: {
    ...HEADER_FIELDS,
    current_cgroup_id: { offset: 32, size: 8 },
    netns_ino: { offset: 40, size: 4 },
    reason: { offset: 44, size: 4 },
    ifindex: { offset: 48, size: 4 },
    family: { offset: 52, size: 2 },
    src_port: { offset: 54, size: 2 },
    dst_port: { offset: 56, size: 2 },
    protocol: { offset: 58, size: 1 },
    direction: { offset: 59, size: 1 },
    saddr: { offset: 60, size: 16 },
    daddr: { offset: 76, size: 16 },
    comm: { offset: 92, size: 16 },
  },
} as const;
