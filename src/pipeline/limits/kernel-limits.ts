// The userspace side of bpf/include/limits.h for one loaded BPF object: writes each event kind's sampling and rate
// limit into tapio_limits_config, and reads back what the kernel decided per cgroup (admitted, rate limited, sampled)
// and how many (cgroup, kind) buckets the LRU map evicted. Map layouts come from the generated layouts.
import { KIND_NAMES } from '../../kernel/drops';
import type { LoadedCollector } from '../../kernel/loader';
import { u32Key, type BpfMap } from '../../kernel/maps';
import { STRUCTS, TAPIO_LIMITS_BUCKETS_CREATED, TAPIO_LIMITS_BUCKET_INSERT_FAILED } from '../../kernel/layouts.generated';

export const LIMITS_CONFIG_MAP = 'tapio_limits_config';
export const LIMITS_STATE_MAP = 'tapio_limits_state';
export const LIMITS_COUNTERS_MAP = 'tapio_limits_counters';

const KIND_LIMIT = STRUCTS.tapio_kind_limit;
const LIMIT_KEY = STRUCTS.tapio_limit_key;
const LIMIT_STATE = STRUCTS.tapio_limit_state;

export interface KindLimit {
  /** Keep 1 of N (1: keep all). */
  sampleEvery: number;
  /** Per cgroup; 0: no rate limit. */
  ratePerSec: number;
  /** Bucket size; 0: ratePerSec. */
  burst: number;
}

export interface CgroupLimitRow {
  cgroupId: bigint;
  kind: string;
  admitted: number;
  rateLimited: number;
  sampled: number;
}

export interface BucketCounters {
  live: number;
  created: number;
  /** Buckets the LRU map threw out to make room (they start full again when their cgroup comes back). */
  evicted: number;
  /** Events let through because no bucket could be made (fail open). */
  insertFailed: number;
}

const KIND_NUMBERS = new Map(Object.entries(KIND_NAMES).map(([n, name]) => [name, Number(n)]));

/** The enum tapio_kind number of an event name ('process.exec' -> 1), or undefined. */
export function kindNumber(name: string): number | undefined {
  return KIND_NUMBERS.get(name);
}

function checkU32(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what} must be an integer in [0, 2^32), not ${v}`);
  return v;
}

export function encodeKindLimit(l: KindLimit): Buffer {
  const f = KIND_LIMIT.fields;
  const b = Buffer.alloc(KIND_LIMIT.size);
  b.writeUInt32LE(checkU32('sampleEvery', Math.max(1, l.sampleEvery)), f.sample_every.offset);
  b.writeUInt32LE(checkU32('ratePerSec', l.ratePerSec), f.rate_per_sec.offset);
  b.writeUInt32LE(checkU32('burst', l.burst), f.burst.offset);
  return b;
}

export function decodeKindLimit(b: Buffer): KindLimit {
  const f = KIND_LIMIT.fields;
  return {
    sampleEvery: Math.max(1, b.readUInt32LE(f.sample_every.offset)),
    ratePerSec: b.readUInt32LE(f.rate_per_sec.offset),
    burst: b.readUInt32LE(f.burst.offset),
  };
}

export class KernelLimits {
  private readonly config: BpfMap;
  private readonly state: BpfMap;
  private readonly counters: BpfMap;

  /** Undefined when the object does not include bpf/include/limits.h. */
  static of(object: LoadedCollector): KernelLimits | undefined {
    if (!object.available || !object.hasMap(LIMITS_CONFIG_MAP)) return undefined;
    return new KernelLimits(object);
  }

  constructor(readonly object: LoadedCollector) {
    this.config = object.map(LIMITS_CONFIG_MAP);
    this.state = object.map(LIMITS_STATE_MAP);
    this.counters = object.map(LIMITS_COUNTERS_MAP);
  }

  get(kind: number): KindLimit {
    const v = this.config.lookup(u32Key(kind));
    return v ? decodeKindLimit(v) : { sampleEvery: 1, ratePerSec: 0, burst: 0 };
  }

  set(kind: number, limit: KindLimit): void {
    this.config.update(u32Key(kind), encodeKindLimit(limit));
  }

  /** Change only the sampling of a kind, keeping its rate limit. */
  setSampleEvery(kind: number, sampleEvery: number): void {
    this.set(kind, { ...this.get(kind), sampleEvery });
  }

  /** What the kernel decided per (cgroup, kind). Walks the map: for status and tests, not per event. */
  cgroups(): CgroupLimitRow[] {
    const rows: CgroupLimitRow[] = [];
    const K = LIMIT_KEY.fields;
    const S = LIMIT_STATE.fields;
    for (const [k, v] of this.state.entries()) {
      if (k.length < LIMIT_KEY.size || v.length < LIMIT_STATE.size) continue;
      const kind = k.readUInt32LE(K.kind.offset);
      rows.push({
        cgroupId: k.readBigUInt64LE(K.cgroup_id.offset),
        kind: KIND_NAMES[kind] ?? `kind_${kind}`,
        admitted: Number(v.readBigUInt64LE(S.admitted.offset)),
        rateLimited: Number(v.readBigUInt64LE(S.rate_limited.offset)),
        sampled: Number(v.readBigUInt64LE(S.sampled.offset)),
      });
    }
    return rows;
  }

  bucketCounters(): BucketCounters {
    const created = Number(this.counters.sumU64(u32Key(TAPIO_LIMITS_BUCKETS_CREATED)));
    const insertFailed = Number(this.counters.sumU64(u32Key(TAPIO_LIMITS_BUCKET_INSERT_FAILED)));
    const live = this.state.count();
    return { live, created, evicted: Math.max(0, created - live), insertFailed };
  }
}

/**
 * Settings from config (limits.rateLimits, limits.sampling) as one KindLimit per kind number. Kinds not named keep
 * the kernel defaults (no limit, no sampling).
 */
export function kindLimitsFromConfig(cfg: {
  rateLimits: Record<string, { perSecond: number; burst?: number }>;
  sampling: Record<string, number>;
}): Map<number, KindLimit> {
  const out = new Map<number, KindLimit>();
  const get = (name: string): KindLimit | undefined => {
    const n = kindNumber(name);
    if (n === undefined) return undefined;
    let l = out.get(n);
    if (!l) out.set(n, l = { sampleEvery: 1, ratePerSec: 0, burst: 0 });
    return l;
  };
  for (const [name, r] of Object.entries(cfg.rateLimits)) {
    const l = get(name);
    if (l) { l.ratePerSec = r.perSecond; l.burst = r.burst ?? r.perSecond; }
  }
  for (const [name, n] of Object.entries(cfg.sampling)) {
    const l = get(name);
    if (l) l.sampleEvery = n;
  }
  return out;
}
