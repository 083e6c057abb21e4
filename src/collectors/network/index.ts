// The network collector: TCP connect, accept, close and failed connects from bpf/network.bpf.c. Declares each hook
// with its implementations in order of preference, sizes the connection table from config, decodes ring-buffer
// batches and keeps the kernel's drop counters in ctx.drops.
import { bootNsToUnixNano } from '../../kernel/clock';
import { kindName, reasonName } from '../../kernel/drops';
import { loadCollector, type CollectorSpec, type LoadedCollector, type LoaderOptions } from '../../kernel/loader';
import type { RingReader } from '../../kernel/ring';
import type { TapioEvent } from '../../pipeline/event';
import type { Collector, CollectorContext, CollectorStatus } from '../types';
import { NetworkDecoder } from './decode';

export const NETWORK_RING = 'network_events';

/** The state machine hook is required; accept attribution and reset marks are optional (without them accept events
 *  are missing and close events lack the reset-sent mark, but connect/close still work). accept: fexit/kretprobe on
 *  inet_csk_accept fire only for TCP accepts; the syscall-tracepoint fallback taxes every syscall a little. The
 *  legacy accept(2) syscall needs its own tracepoint; where the fexit hook works it duplicates it (deduplicated in
 *  the kernel). */
export function networkCollectorSpec(config: { ringBufferBytes: number; connectionTableSize: number }): CollectorSpec {
  return {
    name: 'network',
    object: 'network.bpf.o',
    hooks: [
      { name: 'tcp_state', implementations: [{ kind: 'tp_btf', program: 'state_btf' }, { kind: 'tracepoint', program: 'state_tp' }] },
      {
        name: 'accept', optional: true, implementations: [
          { kind: 'fexit', program: 'accept_fexit' },
          { kind: 'kretprobe', program: 'accept_kretprobe' },
          { kind: 'tracepoint', program: 'accept4_exit_tp' },
        ],
      },
      { name: 'accept_legacy_syscall', optional: true, implementations: [{ kind: 'tracepoint', program: 'accept_exit_tp' }] },
      { name: 'tcp_send_reset', optional: true, implementations: [{ kind: 'tp_btf', program: 'send_reset_btf' }, { kind: 'tracepoint', program: 'send_reset_tp' }] },
      { name: 'tcp_receive_reset', optional: true, implementations: [{ kind: 'tp_btf', program: 'receive_reset_btf' }, { kind: 'tracepoint', program: 'receive_reset_tp' }] },
    ],
    mapMaxEntries: { [NETWORK_RING]: config.ringBufferBytes, tcp_conns: config.connectionTableSize },
  };
}

export class NetworkCollector implements Collector {
  readonly name = 'network';
  private loaded: LoadedCollector | undefined;
  private reader: RingReader | undefined;
  private decoder: NetworkDecoder | undefined;
  private ctx: CollectorContext | undefined;
  private stopped = false;

  constructor(private readonly loaderOptions: LoaderOptions = {}) {}

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    const kcfg = ctx.config.kernel;
    const spec = networkCollectorSpec({ ringBufferBytes: kcfg.ringBufferBytes, connectionTableSize: ctx.config.collectors.network.connectionTableSize });
    this.loaded = await loadCollector(spec, this.loaderOptions);
    if (!this.loaded.available) {
      ctx.log(`network collector unavailable: ${this.loaded.unavailableReasons().join(' | ')}`);
      return;
    }
    const decoder = new NetworkDecoder({ drops: ctx.drops, toUnixNano: bootNsToUnixNano });
    this.decoder = decoder;
    this.reader = this.loaded.openRing(NETWORK_RING, (batch) => {
      const events: TapioEvent[] = [];
      batch.forEach((view, offset, size) => {
        const e = decoder.decode(view, offset, size);
        if (e) events.push(e);
      });
      if (events.length) ctx.emit(events);
    }, { coalesceMs: kcfg.coalesceMs, batchRecords: kcfg.batchRecords, queueBatches: kcfg.queueBatches });
  }

  status(): CollectorStatus {
    return {
      name: this.name,
      available: this.loaded?.available ?? false,
      hooks: this.loaded?.hooks ?? [],
      events: { ...(this.decoder?.counts ?? {}) },
    };
  }

  syncCounters(): void {
    if (!this.loaded?.available || !this.ctx || this.stopped) return;
    for (const d of this.loaded.readDrops()) this.ctx.drops.set('kernel', kindName(d.kind), reasonName(d.reason), d.count);
    if (this.reader && this.reader.handlerErrors > 0) {
      this.ctx.drops.set('decode', 'network.batch', 'handler_error', this.reader.handlerErrors);
    }
  }

  async stop(): Promise<void> {
    if (!this.loaded || this.stopped) return;
    this.reader?.stop();
    this.syncCounters();
    this.stopped = true;
    await this.loaded.close();
  }
}
