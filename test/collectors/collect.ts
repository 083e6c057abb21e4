// Test helper: runs a real collector (real kernel, real BPF) and gathers what it emits, with a bounded wait.
import { configSchema } from '../../src/config/schema';
import { DropCounters } from '../../src/core/drops';
import type { TapioEvent } from '../../src/core/event';
import type { Collector } from '../../src/collectors/types';

export interface Running {
  events: TapioEvent[];
  drops: DropCounters;
  logs: string[];
  /** Polls every 20 ms until pred() holds or timeoutMs passes; returns whether it held. */
  waitFor(pred: () => boolean, timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
}

export async function runCollector(collector: Collector, config: unknown = {}): Promise<Running> {
  const events: TapioEvent[] = [];
  const drops = new DropCounters();
  const logs: string[] = [];
  await collector.start({ config: configSchema.parse(config), emit: (e) => { for (const x of e) events.push(x); }, drops, log: (m) => logs.push(m) });
  return {
    events,
    drops,
    logs,
    async waitFor(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    async stop() {
      await collector.stop();
    },
  };
}
