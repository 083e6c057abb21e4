// Two real collectors for the observe tests, registered with the agent's collector registry so the real Agent runs
// them: `observe_broken` loads bpf/testing/spine_test.bpf.o with a required hook whose only program the verifier
// rejects (spine_broken), so it is DOWN with the kernel's reason; `observe_limits` runs the limits test program
// (bpf/testing/limits_test.bpf.c) and decodes its records into events, like a real collector.
import type { CollectorEntry } from '../../src/collectors';
import type { Collector, CollectorContext, CollectorStatus } from '../../src/collectors/types';
import { kindName, reasonName } from '../../src/kernel/drops';
import { loadCollector, type LoadedCollector, type LoaderOptions } from '../../src/kernel';
import type { TapioEvent } from '../../src/core/event';

class TestCollector implements Collector {
  private loaded?: LoadedCollector;
  private ctx?: CollectorContext;
  private events = 0;
  constructor(readonly name: string, private readonly spec: Parameters<typeof loadCollector>[0], private readonly ring?: string,
    private readonly loader: LoaderOptions = {}) {}

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    this.loaded = await loadCollector(this.spec, this.loader);
    if (!this.loaded.available || !this.ring) return;
    this.loaded.openRing(this.ring, (batch) => {
      const out: TapioEvent[] = [];
      batch.forEach((v, off) => {
        out.push({ name: 'test', timeUnixNano: 0n, cgroupId: v.getBigUint64(off + 16, true),
          attributes: { 'process.pid': v.getUint32(off + 24, true), 'tapio.boot_ns': Number(v.getBigUint64(off + 8, true)) } });
      });
      this.events += out.length;
      ctx.emit(out);
    }, { coalesceMs: 5 }); // the agent's default coalescing (config kernel.coalesceMs)
  }

  status(): CollectorStatus {
    return { name: this.name, available: this.loaded?.available ?? false, hooks: this.loaded?.hooks ?? [], events: { test: this.events } };
  }

  kernelObjects(): LoadedCollector[] {
    return this.loaded ? [this.loaded] : [];
  }

  syncCounters(): void {
    if (!this.loaded?.available || !this.ctx) return;
    for (const d of this.loaded.readDrops()) this.ctx.drops.set('kernel', kindName(d.kind), reasonName(d.reason), d.count);
  }

  async stop(): Promise<void> {
    this.syncCounters();
    await this.loaded?.close();
  }
}

/** Two collectors over the project's test objects, for the observe tests: pass them as the Agent's `collectors`. */
export function testCollectors(): CollectorEntry[] {
  const broken = {
    name: 'observe_broken',
    object: 'testing/spine_test.bpf.o',
    hooks: [
      { name: 'emit', implementations: [{ kind: 'tracepoint' as const, program: 'spine_emit' }] },
      { name: 'getppid', implementations: [{ kind: 'tracepoint' as const, program: 'spine_broken' }] },
    ],
  };
  const limits = {
    name: 'observe_limits',
    object: 'testing/limits_test.bpf.o',
    hooks: [{ name: 'emit', implementations: [{ kind: 'tracepoint' as const, program: 'limits_emit' }] }],
  };
  return [
    { name: broken.name, enabled: () => true, hooks: () => broken.hooks, create: (l) => new TestCollector(broken.name, broken, undefined, l) },
    { name: limits.name, enabled: () => true, hooks: () => limits.hooks, create: (l) => new TestCollector(limits.name, limits, 'limits_events', l) },
  ];
}
