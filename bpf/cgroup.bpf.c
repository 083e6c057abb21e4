/* cgroup_mkdir / cgroup_rmdir: feeds identity with cgroup ids and paths as they appear and disappear. tp_btf gives
 * the typed cgroup; the classic tracepoint (path as a __data_loc string) is the fallback. */
#include "tapio.h"
#include "cgroup.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} cgroup_events SEC(".maps");

static __always_inline int finish(struct cgroup_record *r, long n)
{
	if (n < 0) {
		r->path_len = 0;
		r->path[0] = 0;
		tapio_count_drop(r->h.kind,
				 TAPIO_DROP_READ_FAILED); /* counted, and still sent: id alone helps removal */
	} else {
		r->path_len = n > 0 ? n - 1 : 0;
		r->truncated = n >= TAPIO_CGROUP_PATH_LEN;
	}
	tapio_submit(&cgroup_events, r);
	return 0;
}

static __always_inline int emit_btf(struct cgroup *cgrp, const char *path, __u32 kind)
{
	struct cgroup_record *r = tapio_reserve(&cgroup_events, struct cgroup_record, kind);
	if (!r)
		return 0;
	tapio_fill_header(&r->h, kind, sizeof(*r));
	r->id = BPF_CORE_READ(cgrp, kn, id);
	r->hierarchy = BPF_CORE_READ(cgrp, root, hierarchy_id);
	r->level = BPF_CORE_READ(cgrp, level);
	r->truncated = 0;
	r->pad = 0;
	return finish(r, bpf_probe_read_kernel_str(r->path, sizeof(r->path), path));
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir_btf, struct cgroup *cgrp, const char *path)
{
	return emit_btf(cgrp, path, TAPIO_KIND_CGROUP_MKDIR);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir_btf, struct cgroup *cgrp, const char *path)
{
	return emit_btf(cgrp, path, TAPIO_KIND_CGROUP_RMDIR);
}

static __always_inline int emit_tp(struct trace_event_raw_cgroup *ctx, __u32 kind)
{
	struct cgroup_record *r = tapio_reserve(&cgroup_events, struct cgroup_record, kind);
	if (!r)
		return 0;
	tapio_fill_header(&r->h, kind, sizeof(*r));
	r->id = ctx->id;
	r->hierarchy = ctx->root;
	r->level = ctx->level;
	r->truncated = 0;
	r->pad = 0;
	__u32 loc = ctx->__data_loc_path;
	return finish(r, bpf_probe_read_kernel_str(r->path, sizeof(r->path), (void *)ctx + (loc & 0xffff)));
}

SEC("tracepoint/cgroup/cgroup_mkdir")
int cgroup_mkdir_tp(struct trace_event_raw_cgroup *ctx)
{
	return emit_tp(ctx, TAPIO_KIND_CGROUP_MKDIR);
}

SEC("tracepoint/cgroup/cgroup_rmdir")
int cgroup_rmdir_tp(struct trace_event_raw_cgroup *ctx)
{
	return emit_tp(ctx, TAPIO_KIND_CGROUP_RMDIR);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
