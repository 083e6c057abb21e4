/* Self-protection in the kernel: per-container rate limits and per-kind sampling, applied before a collector reserves
 * a record. Include after tapio.h and call tapio_admit(kind, cgroup_id) first; when it says no, return without
 * reserving anything: the drop is already counted (tapio_drops slot TAPIO_DROP_RATE_LIMITED or TAPIO_DROP_SAMPLED,
 * and per cgroup in tapio_limits_state).
 *
 * Userspace (src/pipeline/limits) writes one struct tapio_kind_limit per event kind into tapio_limits_config. With
 * the defaults (all zero) tapio_admit is two map lookups and says yes: nothing is limited until configured. */
#ifndef TAPIO_LIMITS_H
#define TAPIO_LIMITS_H

#include "tapio.h"

#define TAPIO_NS_PER_SEC 1000000000ULL

/* Per-(cgroup, kind) buckets kept at once; least recently used ones are evicted (and recreated full). */
#ifndef TAPIO_LIMITS_CGROUPS
#define TAPIO_LIMITS_CGROUPS 16384
#endif

/* tapio_limits_config[kind]. Written by userspace; zero means "off". */
struct tapio_kind_limit {
	__u32 sample_every; /* keep 1 of N events of this kind (0 or 1: keep all) */
	__u32 rate_per_sec; /* token refill per second, per cgroup (0: no rate limit) */
	__u32 burst;	    /* bucket size in events (0: rate_per_sec) */
	__u32 _pad;
};

struct tapio_limit_key {
	__u64 cgroup_id;
	__u32 kind;
	__u32 _pad;
};

/* One bucket per (cgroup, kind), and what happened to that cgroup's events of that kind. */
struct tapio_limit_state {
	__s64 tokens_nano; /* tokens x 1e9 (fractions of a token accumulate between events) */
	__u64 refill_ns;   /* bpf_ktime_get_ns() of the last refill */
	__u64 admitted;
	__u64 rate_limited;
	__u64 sampled;
};

/* Slots of tapio_limits_counters (per-CPU). */
enum tapio_limits_counter {
	TAPIO_LIMITS_BUCKETS_CREATED = 0,      /* created - live entries = evicted */
	TAPIO_LIMITS_BUCKET_INSERT_FAILED = 1, /* no bucket could be made: the event was let through (fail open) */
	TAPIO_LIMITS_COUNTER_MAX = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TAPIO_KIND_MAX);
	__type(key, __u32);
	__type(value, struct tapio_kind_limit);
} tapio_limits_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TAPIO_LIMITS_CGROUPS);
	__type(key, struct tapio_limit_key);
	__type(value, struct tapio_limit_state);
} tapio_limits_state SEC(".maps");

/* Per-CPU running count per kind: 1-in-N sampling without atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAPIO_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tapio_sample_tick SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAPIO_LIMITS_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tapio_limits_counters SEC(".maps");

static __always_inline void tapio_limits_count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&tapio_limits_counters, &slot);
	if (n)
		*n += 1;
}

/* Take one token; refill first from the time passed. Buckets are shared by all CPUs: the refill is a plain
 * read-modify-write, so two CPUs refilling at the same instant can lose a fraction of a refill or a take (the limit
 * is approximate by that much). Every event still gets exactly one verdict, so the counts always add up. */
static __always_inline bool tapio_take_token(struct tapio_limit_state *s, const struct tapio_kind_limit *cfg, __u64 now)
{
	__u64 rate = cfg->rate_per_sec;
	__s64 cap = (__s64)(cfg->burst ? cfg->burst : cfg->rate_per_sec) * (__s64)TAPIO_NS_PER_SEC;
	__u64 last = s->refill_ns;
	if (now > last) {
		__u64 elapsed = now - last;
		__s64 tokens = s->tokens_nano;
		/* elapsed * rate stays below cap (<= 2^32 * 1e9) because longer gaps just fill the bucket. */
		if (elapsed >= (__u64)cap / rate)
			tokens = cap;
		else
			tokens += (__s64)(elapsed * rate);
		if (tokens > cap)
			tokens = cap;
		s->tokens_nano = tokens;
		s->refill_ns = now;
	}
	if (s->tokens_nano < (__s64)TAPIO_NS_PER_SEC)
		return false;
	__sync_fetch_and_add(&s->tokens_nano, -(__s64)TAPIO_NS_PER_SEC);
	return true;
}

/* The bucket of (cgroup, kind), created full on first use. NULL only when the map refused a new entry. */
static __always_inline struct tapio_limit_state *tapio_limit_bucket(__u32 kind, __u64 cgroup_id,
								    const struct tapio_kind_limit *cfg, __u64 now)
{
	struct tapio_limit_key key = {.cgroup_id = cgroup_id, .kind = kind};
	struct tapio_limit_state *s = bpf_map_lookup_elem(&tapio_limits_state, &key);
	if (s)
		return s;
	struct tapio_limit_state fresh = {
		.tokens_nano = (__s64)(cfg->burst ? cfg->burst : cfg->rate_per_sec) * (__s64)TAPIO_NS_PER_SEC,
		.refill_ns = now,
	};
	/* NOEXIST: another CPU may have made it meanwhile; theirs wins and we use it. */
	if (bpf_map_update_elem(&tapio_limits_state, &key, &fresh, BPF_NOEXIST) == 0)
		tapio_limits_count(TAPIO_LIMITS_BUCKETS_CREATED);
	s = bpf_map_lookup_elem(&tapio_limits_state, &key);
	if (!s)
		tapio_limits_count(TAPIO_LIMITS_BUCKET_INSERT_FAILED);
	return s;
}

/* Should an event of `kind` from `cgroup_id` be recorded? Rate limit first (one noisy container cannot use up the
 * others' share), then 1-in-N sampling of what is left. A "no" is counted before returning. */
static __always_inline bool tapio_admit(__u32 kind, __u64 cgroup_id)
{
	__u32 k = kind;
	struct tapio_kind_limit *live = bpf_map_lookup_elem(&tapio_limits_config, &k);
	if (!live)
		return true;
	/* One copy per event: userspace may rewrite the entry at any time (the adaptive controller does), and a value
	 * read twice could change in between, e.g. to 0 after the non-zero check, and then divide by zero. */
	struct tapio_kind_limit cfg = *live;
	if (cfg.rate_per_sec == 0 && cfg.sample_every <= 1)
		return true; /* nothing configured for this kind: the fast path */

	__u64 now = bpf_ktime_get_ns();
	struct tapio_limit_state *s = tapio_limit_bucket(kind, cgroup_id, &cfg, now);
	if (!s)
		return true; /* fail open, counted as BUCKET_INSERT_FAILED */

	if (cfg.rate_per_sec && !tapio_take_token(s, &cfg, now)) {
		__sync_fetch_and_add(&s->rate_limited, 1);
		tapio_count_drop(kind, TAPIO_DROP_RATE_LIMITED);
		return false;
	}
	if (cfg.sample_every > 1) {
		__u64 *tick = bpf_map_lookup_elem(&tapio_sample_tick, &k);
		if (tick) {
			__u64 n = (*tick)++;
			if (n % cfg.sample_every != 0) {
				__sync_fetch_and_add(&s->sampled, 1);
				tapio_count_drop(kind, TAPIO_DROP_SAMPLED);
				return false;
			}
		}
	}
	__sync_fetch_and_add(&s->admitted, 1);
	return true;
}

/* The 1-in-N sampling of `kind` in force now (0 or 1: keep everything), read once. */
static __always_inline __u32 tapio_sample_every(__u32 kind)
{
	__u32 k = kind;
	struct tapio_kind_limit *live = bpf_map_lookup_elem(&tapio_limits_config, &k);
	return live ? live->sample_every : 0;
}

/* For what is admitted once and captured whole for its life (request capture's connections, TLS streams): does the
 * stream `id` (any value fixed for its life) stay within the kind's current 1-in-N share? Admission happens only at
 * the start, so without asking this again a long-lived stream would stay captured however high N rose. The
 * adaptive controller's N are nested multiples, so a stream kept at 16 is kept at 4: `*kept_every` remembers the
 * largest N it was kept under (set it to tapio_sample_every() at admission), and only a larger N asks again. */
static __always_inline bool tapio_still_sampled(__u32 kind, __u64 id, __u32 *kept_every)
{
	__u32 every = tapio_sample_every(kind);
	if (every <= 1 || every <= *kept_every)
		return true;
	if (((id * 0x9E3779B97F4A7C15ULL) >> 40) % every != 0)
		return false;
	*kept_every = every;
	return true;
}

#endif
