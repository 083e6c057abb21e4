// What a collector is to the rest of the agent: something that loads its BPF programs (with fallbacks), decodes
// records into TapioEvents, and reports how each of its hooks is attached.
import type { TapioConfig } from '../config/schema';
import type { DropCounters } from '../core/drops';
import type { TapioEvent } from '../core/event';
import type { CgroupChange } from '../core/cgroup-change';
import type { HookStatus, LoaderOptions, LoadedCollector } from '../kernel/loader';

export interface CollectorContext {
  config: TapioConfig;
  /** Hand decoded events to the pipeline; called with a whole batch at a time. */
  emit(events: TapioEvent[]): void;
  drops: DropCounters;
  log(message: string): void;
  /** Cgroup directories made and removed (from the cgroup collector), for identity. */
  cgroupChanged?(change: CgroupChange): void;
  /** Hook kinds the kernel probe found unusable here, with the kernel's reason: pass to loadCollector. */
  unavailableKinds?: LoaderOptions['unavailableKinds'];
}

export interface CollectorStatus {
  name: string;
  /** False when every implementation of a required hook failed; `hooks` then says why. */
  available: boolean;
  hooks: HookStatus[];
  /** Events decoded so far, per event name. */
  events: Record<string, number>;
  /** Things worth watching that are not losses (evictions, attributions that could not be made), by name. */
  counters?: Record<string, number>;
}

export interface Collector {
  readonly name: string;
  start(ctx: CollectorContext): Promise<void>;
  status(): CollectorStatus;
  /** The loaded BPF objects behind this collector (for per-program run statistics and map fill metrics). */
  kernelObjects?(): LoadedCollector[];
  /** Pull kernel-side counters (drops, evictions) into ctx.drops; called periodically and at stop. */
  syncCounters(): void;
  stop(): Promise<void>;
}
