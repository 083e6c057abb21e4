// Wiring of self-protection for the agent: writes the configured rate limits and sampling into every loaded BPF
// object that includes bpf/include/limits.h, and starts the adaptive controller that adjusts sampling within the
// budget. Call once after the collectors have started (their objects must be loaded).
import type { LimitsConfig } from '../../config/limits';
import type { LoadedCollector } from '../../kernel/loader';
import { KIND_NAMES } from '../../kernel/drops';
import { AdaptiveController } from './adaptive';
import { KernelLimits, kindLimitsFromConfig, kindNumber } from './kernel-limits';
import { ProcessResources, type ResourceSource } from '../../core/resources';

export interface LimitsHandle {
  /** One per BPF object that has the limits maps. */
  kernels: KernelLimits[];
  /** Undefined when limits.adaptive.enabled is false. */
  controller?: AdaptiveController;
  stop(): void;
}

export function createLimits(o: {
  config: LimitsConfig;
  objects: LoadedCollector[];
  log?: (message: string) => void;
  resources?: ResourceSource;
  /** Start the controller's timer (default true; tests drive tick() themselves). */
  startTimer?: boolean;
}): LimitsHandle {
  const log = o.log ?? (() => undefined);
  const kernels = o.objects.map((obj) => KernelLimits.of(obj)).filter((k): k is KernelLimits => k !== undefined);
  const wanted = kindLimitsFromConfig(o.config);
  for (const k of kernels) {
    for (const [kind, limit] of wanted) {
      try {
        k.set(kind, limit);
      } catch (e) {
        log(`limits: cannot configure ${KIND_NAMES[kind]} in ${k.object.name}: ${(e as Error).message}`);
      }
    }
  }
  const handle: LimitsHandle = { kernels, stop: () => handle.controller?.stop() };
  const a = o.config.adaptive;
  if (!a.enabled) return handle;
  const kinds = a.kinds;
  const base: Record<string, number> = {};
  for (const k of kinds) base[k] = o.config.sampling[k] ?? 1;
  handle.controller = new AdaptiveController({
    cpuBudget: o.config.budget.cpuPercent / 100,
    memoryBudgetBytes: o.config.budget.memoryMiB * 1048576,
    baseSampleEvery: base,
    maxSampleEvery: a.maxSampleEvery,
    raiseBelowRatio: a.raiseBelowRatio,
    calmIntervals: a.calmIntervals,
  }, (kind, n) => {
    const num = kindNumber(kind);
    if (num === undefined) return;
    for (const k of kernels) k.setSampleEvery(num, n);
  }, o.resources ?? new ProcessResources(), log);
  if (o.startTimer !== false) handle.controller.start(a.intervalMs);
  return handle;
}
