// A cgroup directory made or removed, as the cgroup collector reports it and identity follows it.

export interface CgroupChange {
  op: 'mkdir' | 'rmdir';
  /** Kernel cgroup id (cgroup v2: the directory's inode, what bpf_get_current_cgroup_id() reports). */
  id: bigint;
  /** Relative to the cgroup v2 root, e.g. /docker/<id>. */
  path: string;
  /** When it happened; absent where the source does not know. */
  timeUnixNano?: bigint;
}
