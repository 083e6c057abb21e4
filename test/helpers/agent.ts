// Runs the real agent in-process for end-to-end tests (needs root): real collectors, the real pipeline, and a sink
// that keeps every event so a test can wait for the ones it caused.
import { parseConfig } from '../../src/config/load';
import type { TapioConfig } from '../../src/config/schema';
import { Agent } from '../../src/agent/agent';
import type { TapioEvent } from '../../src/core/event';
import type { CgroupChange } from '../../src/core/cgroup-change';
import type { IdentityGate } from '../../src/pipeline/pipeline';

export class CollectingSink {
  readonly name = 'collect';
  readonly events: TapioEvent[] = [];
  private waiters: (() => void)[] = [];

  write(events: TapioEvent[]): void {
    this.events.push(...events);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the first event matching `pred`, or rejects after `timeoutMs` saying what was seen. */
  async waitFor(pred: (e: TapioEvent) => boolean, timeoutMs = 10_000, what = 'event'): Promise<TapioEvent> {
    const deadline = Date.now() + timeoutMs;
    let checked = 0;
    for (;;) {
      for (; checked < this.events.length; checked++) if (pred(this.events[checked])) return this.events[checked];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (${this.events.length} events seen)`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }
}

export interface TestAgent {
  agent: Agent;
  sink: CollectingSink;
  stop(): Promise<void>;
}

export async function startTestAgent(opts: {
  config?: string | TapioConfig;
  only?: string[];
  enrich?: (e: TapioEvent) => void;
  identityGate?: IdentityGate;
  cgroupChanged?: (c: CgroupChange) => void;
} = {}): Promise<TestAgent> {
  const config = typeof opts.config === 'object' ? opts.config : parseConfig(opts.config ?? '');
  const sink = new CollectingSink();
  const agent = new Agent({ config, sinks: [sink], only: opts.only, enrich: opts.enrich, identityGate: opts.identityGate, cgroupChanged: opts.cgroupChanged, log: () => undefined });
  await agent.start();
  return { agent, sink, stop: () => agent.stop() };
}
