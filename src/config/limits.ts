// Config of self-protection: budgets, rate limits, sampling, cardinality (src/pipeline/limits). Owned by the limits
// work. Every setting has a default that is safe on a busy node; an empty config file is a working one.
import { z } from 'zod';
import { KERNEL_EVENT_KINDS } from '../core/kinds';

const KNOWN_KINDS = new Set<string>(KERNEL_EVENT_KINDS);
const unknownKind = (k: string) => `unknown event kind '${k}' (known: ${[...KNOWN_KINDS].join(', ')})`;
const kindName = z.string().refine((k) => KNOWN_KINDS.has(k), { error: (issue) => unknownKind(String(issue.input)) });

/** A map keyed by event kind; an unknown key is reported under its own path with the known names. */
function byKind<T extends z.ZodType>(value: T) {
  return z.record(z.string(), value).superRefine((rec, ctx) => {
    for (const k of Object.keys(rec)) if (!KNOWN_KINDS.has(k)) ctx.addIssue({ code: 'custom', path: [k], message: unknownKind(k) });
  });
}

const rateLimitSchema = z.object({
  /** Events per second one container (cgroup) may send of this kind; 0 turns the limit off. */
  perSecond: z.number().int().min(0).max(10_000_000),
  /** Events a container may send at once after a quiet spell; default: one second's worth. */
  burst: z.number().int().min(1).max(10_000_000).optional(),
}).strict();

/** Generous enough that only a runaway container hits them; they keep one container from starving the others. */
export const DEFAULT_RATE_LIMITS: Record<string, { perSecond: number; burst?: number }> = {
  'process.exec': { perSecond: 2_000, burst: 10_000 },
  'process.fork': { perSecond: 5_000, burst: 20_000 },
  'network.tcp.connect': { perSecond: 10_000, burst: 50_000 },
  'network.tcp.accept': { perSecond: 10_000, burst: 50_000 },
  'network.tcp.close': { perSecond: 10_000, burst: 50_000 },
  'network.tcp.connect_failed': { perSecond: 5_000, burst: 20_000 },
};

export const DEFAULT_ADAPTIVE_KINDS = ['process.fork', 'network.tcp.connect', 'network.tcp.accept', 'network.tcp.close',
  'network.tcp.connect_failed', 'network.tcp.retransmit', 'network.tcp.reset',
  // Request capture: whole connections (TLS: SSL streams), chosen when first seen and let go when N rises
  // (l7_shed in bpf/l7.bpf.c, tls_shed in bpf/tls.bpf.c).
  'l7.data', 'tls.data'];

export const limitsConfigSchema = z.object({
  budget: z.object({
    /** CPU the agent may use, percent of the whole node (all cores together). */
    cpuPercent: z.number().min(0.1).max(100).default(2),
    /** Resident memory the agent may use, MiB. */
    memoryMiB: z.number().int().min(64).max(65_536).default(500),
  }).strict().prefault({}),
  /** Per-container token buckets in the kernel, per event kind (bpf/include/limits.h). */
  rateLimits: byKind(rateLimitSchema).default(DEFAULT_RATE_LIMITS),
  /** Keep 1 of N events of a kind from the start (the adaptive controller never samples less than this). */
  sampling: byKind(z.number().int().min(1).max(1_000_000)).default({}),
  /** (cgroup, kind) buckets the kernel keeps (LRU: the least recently seen are evicted and start full again). */
  bucketTableSize: z.number().int().min(64).max(1_000_000).default(16_384),
  adaptive: z.object({
    /** Lower sampling rates when over budget, raise them again when load falls. */
    enabled: z.boolean().default(true),
    /** How often usage is measured and a decision may be made, ms. */
    intervalMs: z.number().int().min(100).max(600_000).default(5_000),
    /** The most events of a kind sampling may skip: keep at least 1 of this many. */
    maxSampleEvery: z.number().int().min(2).max(1_000_000).default(1024),
    /** Usage must fall below this share of the budget before rates go up again (hysteresis). */
    raiseBelowRatio: z.number().min(0.05).max(0.95).default(0.6),
    /** ...for this many intervals in a row. */
    calmIntervals: z.number().int().min(1).max(100).default(3),
    /** Kinds the controller may sample. By default every kind but process.exec and process.exit (never sampled
     *  unless configured: they are the audit trail) and the cgroup feed identity depends on. */
    kinds: z.array(kindName).default(DEFAULT_ADAPTIVE_KINDS),
  }).strict().prefault({}),
  cardinality: z.object({
    /** Distinct keys (flows, attribute values) kept per aggregation; the rest go into "other". */
    topK: z.number().int().min(10).max(100_000).default(1000),
  }).strict().prefault({}),
}).strict().prefault({});

export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
