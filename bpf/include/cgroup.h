/* Records of bpf/cgroup.bpf.c: cgroup directories made and removed, so identity learns a new container's cgroup
 * the moment it exists instead of on the next walk of the tree. */
#ifndef TAPIO_CGROUP_H
#define TAPIO_CGROUP_H

#include "tapio.h"

/* An enum constant, not a #define, so it is in BTF and reaches TypeScript (src/kernel/layouts.generated.ts). */
enum tapio_cgroup_sizes {
	TAPIO_CGROUP_PATH_LEN = 512,
};

struct cgroup_record {
	struct tapio_header h;
	__u64 id;	 /* the cgroup's kernfs id: on cgroup v2, the inode bpf_get_current_cgroup_id() reports */
	__s32 hierarchy; /* 0 = the cgroup v2 (default) hierarchy; v1 hierarchies have their own numbers */
	__s32 level;	 /* depth below the hierarchy root */
	__u16 path_len;	 /* bytes of path, without the NUL */
	__u16 truncated; /* 1 when the path did not fit */
	__u32 pad;
	char path[TAPIO_CGROUP_PATH_LEN]; /* relative to the hierarchy root, e.g. /docker/<id> */
};

#endif
