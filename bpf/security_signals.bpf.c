/* Security-signals collector, kernel side: seccomp violations and netfilter policy drops.
 *  - SIGSYS raised by seccomp (KILL_PROCESS, KILL_THREAD, TRAP): signal_generate with code SYS_SECCOMP.
 *  - ERRNO denials: seccomp runs before trace_sys_enter, so a watched syscall whose sys_exit fires without its
 *    sys_enter was skipped by a filter (notes/security.md). One enter/exit pair per watched syscall; userspace
 *    attaches only the pairs listed in config (each per-syscall tracepoint taxes only that syscall).
 *  - Packets dropped by netfilter (iptables/nftables DROP): skb:kfree_skb with reason NETFILTER_DROP.
 * Hook order and fallbacks are declared in src/collectors/security-signals/index.ts. Records:
 * bpf/include/security_signals.h. */
#include "security_signals.h"
#include "sock_cgroup.h"
#include "limits.h"
#include <bpf/bpf_endian.h>

#define SIGSYS		  31
#define SYS_SECCOMP	  1
#define SECCOMP_MODE_DEAD 3
#define AF_INET		  2
#define AF_INET6	  10
#define IPPROTO_TCP	  6
#define IPPROTO_UDP	  17
#define IPPROTO_SCTP	  132

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized from config before load */
} security_signal_events SEC(".maps");

/* Threads inside a watched syscall (set at sys_enter, cleared at sys_exit). A value of 2 means "seccomp already
 * reported this syscall with a SIGSYS (TRAP)": its sys_exit must not be reported again as an ERRNO denial. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, __u8);
} watched_in_syscall SEC(".maps");

/* Keep the record structs in the object's BTF for the layout test. */
const struct seccomp_record *unused_seccomp_record __attribute__((unused));
const struct netfilter_drop_record *unused_netfilter_drop_record __attribute__((unused));

#define ENTERED 1
#define TRAPPED 2

static __always_inline struct seccomp_record *seccomp_reserve(__u32 kind)
{
	if (!tapio_admit(kind, bpf_get_current_cgroup_id()))
		return NULL;
	struct seccomp_record *r = tapio_reserve(&security_signal_events, struct seccomp_record, kind);
	if (!r)
		return NULL;
	tapio_fill_header(&r->h, kind, sizeof(*r));
	r->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	r->exe_parts = tapio_exe_parts(t, r->exe, &r->exe_flags);
	r->ancestor_count = tapio_ancestors(t, r->ancestors);
	return r;
}

/* Typed access: the siginfo and the task of the signal (always current for a seccomp SIGSYS). */
SEC("tp_btf/signal_generate")
int BPF_PROG(sigsys_btf, int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result)
{
	/* SEND_SIG_NOINFO (0) and SEND_SIG_PRIV (1) are not pointers. */
	if (sig != SIGSYS || (unsigned long)info <= 2)
		return 0;
	/* Probe reads: newer verifiers treat this argument as a scalar (it may encode SEND_SIG_* values). */
	if (BPF_CORE_READ(info, si_code) != SYS_SECCOMP)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u8 *in = bpf_map_lookup_elem(&watched_in_syscall, &pid_tgid);
	if (in)
		*in = TRAPPED;
	struct seccomp_record *r = seccomp_reserve(TAPIO_KIND_SECCOMP_SIGNAL);
	if (!r)
		return 0;
	/* Probe reads: the siginfo union's members overlap, which direct (typed) access refuses. */
	r->syscall_nr = BPF_CORE_READ(info, _sifields._sigsys._syscall);
	r->arch = BPF_CORE_READ(info, _sifields._sigsys._arch);
	r->value = BPF_CORE_READ(info, si_errno);
	r->seccomp_mode = task->seccomp.mode;
	r->source = SECCOMP_SRC_SIGSYS_BTF;
	tapio_submit(ctx, &security_signal_events, r);
	return 0;
}

SEC("tracepoint/signal/signal_generate")
int sigsys_tp(struct trace_event_raw_signal_generate *ctx)
{
	if (ctx->sig != SIGSYS || ctx->code != SYS_SECCOMP)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u8 *in = bpf_map_lookup_elem(&watched_in_syscall, &pid_tgid);
	if (in)
		*in = TRAPPED;
	struct seccomp_record *r = seccomp_reserve(TAPIO_KIND_SECCOMP_SIGNAL);
	if (!r)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	r->syscall_nr = -1;
	r->arch = 0;
	r->value = ctx->errno;
	r->seccomp_mode = BPF_CORE_READ(task, seccomp.mode);
	r->source = SECCOMP_SRC_SIGSYS_TP;
	tapio_submit(ctx, &security_signal_events, r);
	return 0;
}

static __always_inline void watched_enter(void)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u8 v = ENTERED;
	if (bpf_map_update_elem(&watched_in_syscall, &pid_tgid, &v, BPF_ANY) != 0)
		tapio_count_drop(TAPIO_KIND_SECCOMP_ERRNO, TAPIO_DROP_MAP_FULL);
}

static __always_inline void watched_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u8 *in = bpf_map_lookup_elem(&watched_in_syscall, &pid_tgid);
	if (in) {
		bpf_map_delete_elem(&watched_in_syscall, &pid_tgid);
		return; /* it ran (or a SIGSYS already reported it) */
	}
	long ret = ctx->ret;
	if (ret >= 0)
		return; /* a filter can also fake success (ERRNO 0): not a denial anyone acts on */
	struct seccomp_record *r = seccomp_reserve(TAPIO_KIND_SECCOMP_ERRNO);
	if (!r)
		return;
	/* Untyped task + CO-RE read, not bpf_get_current_task_btf: tracepoint programs get that helper only from 5.11. */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	r->syscall_nr = (__s32)ctx->id;
	r->arch = 0; /* the native arch: compat syscalls have their own tracepoints */
	r->value = (__s32)ret;
	r->seccomp_mode = BPF_CORE_READ(task, seccomp.mode);
	r->source = SECCOMP_SRC_NO_ENTER;
	tapio_submit(ctx, &security_signal_events, r);
}

/* One enter/exit pair per syscall that container profiles commonly deny; src/collectors/security-signals/syscalls.ts
 * lists the same names. A syscall this kernel lacks (no module syscalls with CONFIG_MODULES=n) fails to attach and is
 * reported, never fatal. */
#define WATCH_SYSCALL(name)                                   \
	SEC("tracepoint/syscalls/sys_enter_" #name)           \
	int enter_##name(void *ctx)                           \
	{                                                     \
		watched_enter();                              \
		return 0;                                     \
	}                                                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)            \
	int exit_##name(struct trace_event_raw_sys_exit *ctx) \
	{                                                     \
		watched_exit(ctx);                            \
		return 0;                                     \
	}

WATCH_SYSCALL(unshare)
WATCH_SYSCALL(setns)
WATCH_SYSCALL(mount)
WATCH_SYSCALL(umount)
WATCH_SYSCALL(pivot_root)
WATCH_SYSCALL(chroot)
WATCH_SYSCALL(bpf)
WATCH_SYSCALL(perf_event_open)
WATCH_SYSCALL(keyctl)
WATCH_SYSCALL(add_key)
WATCH_SYSCALL(request_key)
WATCH_SYSCALL(ptrace)
WATCH_SYSCALL(personality)
WATCH_SYSCALL(open_by_handle_at)
WATCH_SYSCALL(userfaultfd)
WATCH_SYSCALL(kexec_load)
WATCH_SYSCALL(init_module)
WATCH_SYSCALL(finit_module)
WATCH_SYSCALL(delete_module)
WATCH_SYSCALL(reboot)
WATCH_SYSCALL(swapon)
WATCH_SYSCALL(syslog)
WATCH_SYSCALL(fsopen)
WATCH_SYSCALL(fsmount)
WATCH_SYSCALL(move_mount)
WATCH_SYSCALL(mount_setattr)
WATCH_SYSCALL(io_uring_setup)
WATCH_SYSCALL(clock_settime)
WATCH_SYSCALL(settimeofday)

/* ---- netfilter drops ---- */

static __always_inline __u32 netns_of_sock(struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline void handle_drop(void *ctx, struct sk_buff *skb, __u32 reason)
{
	if (reason != bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP))
		return;
	struct sock *sk = BPF_CORE_READ(skb, sk);
	__u64 owner = sk ? tapio_sock_cgroup_id(sk) : 0;
	if (!tapio_admit(TAPIO_KIND_NETFILTER_DROP, owner))
		return;
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u8 first = 0;
	if (bpf_probe_read_kernel(&first, 1, head + nh) != 0) {
		tapio_count_drop(TAPIO_KIND_NETFILTER_DROP, TAPIO_DROP_READ_FAILED);
		return;
	}
	__u8 version = first >> 4;
	if (version != 4 && version != 6)
		return; /* ARP and bridge frames: not an IP policy drop */
	struct netfilter_drop_record *r =
		tapio_reserve(&security_signal_events, struct netfilter_drop_record, TAPIO_KIND_NETFILTER_DROP);
	if (!r)
		return;
	tapio_fill_header(&r->h, TAPIO_KIND_NETFILTER_DROP, sizeof(*r));
	r->current_cgroup_id = r->h.cgroup_id;
	r->h.cgroup_id = owner;
	r->reason = reason;
	r->direction = sk ? NF_DIR_EGRESS : NF_DIR_INGRESS;
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	r->ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	if (sk)
		r->netns_ino = netns_of_sock(sk);
	else if (dev)
		r->netns_ino = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	else
		r->netns_ino = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), nsproxy, net_ns, ns.inum);
	__builtin_memset(r->saddr, 0, sizeof(r->saddr));
	__builtin_memset(r->daddr, 0, sizeof(r->daddr));
	r->src_port = 0;
	r->dst_port = 0;
	__u32 l4 = 0;
	if (version == 4) {
		struct iphdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) != 0)
			__builtin_memset(&ip, 0, sizeof(ip));
		r->family = AF_INET;
		r->protocol = ip.protocol;
		__builtin_memcpy(r->saddr, &ip.saddr, 4);
		__builtin_memcpy(r->daddr, &ip.daddr, 4);
		/* Fragments after the first carry no L4 header. */
		if ((bpf_ntohs(ip.frag_off) & 0x1fff) == 0)
			l4 = nh + ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) != 0)
			__builtin_memset(&ip6, 0, sizeof(ip6));
		r->family = AF_INET6;
		r->protocol =
			ip6.nexthdr; /* extension headers are not walked: their drops show protocol = the header */
		__builtin_memcpy(r->saddr, &ip6.saddr, 16);
		__builtin_memcpy(r->daddr, &ip6.daddr, 16);
		l4 = nh + sizeof(struct ipv6hdr);
	}
	if (l4 && (r->protocol == IPPROTO_TCP || r->protocol == IPPROTO_UDP || r->protocol == IPPROTO_SCTP)) {
		__be16 ports[2] = {};
		bpf_probe_read_kernel(ports, sizeof(ports), head + l4);
		r->src_port = bpf_ntohs(ports[0]);
		r->dst_port = bpf_ntohs(ports[1]);
	}
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	tapio_submit(ctx, &security_signal_events, r);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb_btf, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	handle_drop(ctx, skb, reason);
	return 0;
}

SEC("tracepoint/skb/kfree_skb")
int kfree_skb_tp(struct trace_event_raw_kfree_skb *ctx)
{
	handle_drop(ctx, (struct sk_buff *)ctx->skbaddr, ctx->reason);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
