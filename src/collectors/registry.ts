// Every collector the agent knows, in start order. `tapio run` starts the enabled ones; `tapio probe` shows which
// implementation each hook would use here.
import type { HookSpec, LoaderOptions } from '../kernel/loader';
import type { TapioConfig } from '../config/schema';
import type { Collector } from './types';

export interface CollectorEntry {
  name: string;
  enabled(config: TapioConfig): boolean;
  hooks: HookSpec[];
  /** loader: what the kernel probe found (kinds to skip), passed on to loadCollector. */
  create(loader: LoaderOptions): Collector;
}

const entries: CollectorEntry[] = [];

/** Collectors register themselves here (see the bottom of this file). */
export function registerCollector(entry: CollectorEntry): void {
  entries.push(entry);
}

export function collectorEntries(): CollectorEntry[] {
  return [...entries];
}

export function collectorHookPlans(): { name: string; hooks: HookSpec[] }[] {
  return entries.map((e) => ({ name: e.name, hooks: e.hooks }));
}
