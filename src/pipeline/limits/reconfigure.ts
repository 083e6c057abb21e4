// Applying a changed limits section while the agent runs (config hot reload): rewrite every kind's sampling and rate
// limit in each BPF object's tapio_limits_config, and hand the adaptive controller its new budgets and bounds. The
// kernel's per-(cgroup, kind) buckets are left as they are: a new rate takes effect as they refill.
import type { LimitsConfig } from '../../config/limits';
import { KIND_NAMES } from '../../kernel/drops';
import type { AdaptiveController, AdaptiveOptions } from './adaptive';
import { kindLimitsFromConfig, type KernelLimits, type KindLimit } from './kernel-limits';

/** The adaptive controller's options as the config says. */
export function adaptiveOptionsFrom(config: LimitsConfig): AdaptiveOptions {
  const base: Record<string, number> = {};
  for (const k of config.adaptive.kinds) base[k] = config.sampling[k] ?? 1;
  return {
    cpuBudget: config.budget.cpuPercent / 100,
    memoryBudgetBytes: config.budget.memoryMiB * 1048576,
    baseSampleEvery: base,
    maxSampleEvery: config.adaptive.maxSampleEvery,
    raiseBelowRatio: config.adaptive.raiseBelowRatio,
    calmIntervals: config.adaptive.calmIntervals,
  };
}

/** Kernel default for a kind the config no longer names: keep all, no rate limit. */
const UNLIMITED: KindLimit = { sampleEvery: 1, ratePerSec: 0, burst: 0 };

/**
 * Writes `next` over `prev`. Kinds only `prev` named go back to the kernel default; kinds the adaptive controller
 * manages keep its current N (within the new bounds). Errors per kind and object are logged, not thrown: one map
 * that refuses a write must not keep the other settings from applying. Returns the number of failed writes.
 */
export function reconfigureLimits(handle: { kernels: KernelLimits[]; controller?: AdaptiveController }, prev: LimitsConfig, next: LimitsConfig,
  log: (message: string) => void = () => undefined): number {
  // Kinds the controller managed before: one it no longer manages must get its configured N back, not keep its last.
  const adaptiveBefore = Object.keys(handle.controller?.sampleEvery() ?? {});
  if (handle.controller) {
    handle.controller.reconfigure(adaptiveOptionsFrom(next));
    if (prev.adaptive.intervalMs !== next.adaptive.intervalMs) handle.controller.start(next.adaptive.intervalMs);
  }
  const wanted = kindLimitsFromConfig(next);
  const before = kindLimitsFromConfig(prev);
  const adaptive = handle.controller?.sampleEvery() ?? {};
  const adaptiveByNumber = new Map<number, number>();
  const touched = new Set<number>();
  for (const [num, name] of Object.entries(KIND_NAMES)) {
    if (name in adaptive) adaptiveByNumber.set(Number(num), adaptive[name]!);
    if (adaptiveBefore.includes(name)) touched.add(Number(num));
  }
  let failed = 0;
  for (const kind of new Set([...before.keys(), ...wanted.keys(), ...adaptiveByNumber.keys(), ...touched])) {
    const limit = { ...(wanted.get(kind) ?? UNLIMITED) };
    const n = adaptiveByNumber.get(kind);
    if (n !== undefined) limit.sampleEvery = n;
    for (const k of handle.kernels) {
      try {
        k.set(kind, limit);
      } catch (e) {
        failed++;
        log(`limits: cannot reconfigure ${KIND_NAMES[kind]} in ${k.object.name}: ${(e as Error).message}`);
      }
    }
  }
  return failed;
}
