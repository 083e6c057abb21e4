// The userspace side of bpf/include/limits.h for one loaded BPF object: writes each event kind's sampling and rate
// limit into tapio_limits_config, and reads back what the kernel decided per cgroup (admitted, rate limited, sampled)
// and how many (cgroup, kind) buckets the LRU map evicted.
import { KIND_NAMES } from '../../kernel/drops';
import type { LoadedCollector } from '../../kernel/loader';
import { u32Key, type BpfMap } from '../../kernel/maps';

export const LIMITS_CONFIG_MAP = 'tapio_limits_config';
export const LIMITS_STATE_MAP = 'tapio_limits_state';
export const LIMITS_COUNTERS_MAP = 'tapio_limits_counters';

/** struct tapio_kind_limit: { u32 sample_every, u32 rate_per_sec, u32 burst, u32 pad } */
const KIND_LIMIT_BYTES = 16;

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
  const b = Buffer.alloc(KIND_LIMIT_BYTES);
  b.writeUInt32LE(checkU32('sampleEvery', Math.max(1, l.sampleEvery)), 0);
  b.writeUInt32LE(checkU32('ratePerSec', l.ratePerSec), 4);
  b.writeUInt32LE(checkU32('burst', l.burst), 8);
  return b;
}

export function decodeKindLimit(b: Buffer): KindLimit {
  return { sampleEvery: Math.max(1, b.readUInt32LE(0)), ratePerSec: b.readUInt32LE(4), burst: b.readUInt32LE(8) };
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
    for (const [k, v] of this.state.entries()) {
      if (k.length < 12 || v.length < 40) continue;
      const kind = k.readUInt32LE(8);
      rows.push({
        cgroupId: k.readBigUInt64LE(0),
        kind: KIND_NAMES[kind] ?? `kind_${kind}`,
        admitted: Number(v.readBigUInt64LE(16)),
        rateLimited: Number(v.readBigUInt64LE(24)),
        sampled: Number(v.readBigUInt64LE(32)),
      });
    }
    return rows;
  }

  bucketCounters(): BucketCounters {
    const created = Number(this.counters.sumU64(u32Key(0)));
    const insertFailed = Number(this.counters.sumU64(u32Key(1)));
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
