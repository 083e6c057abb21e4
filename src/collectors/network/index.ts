// The network collector: TCP connect, accept, close and failed connects from bpf/network.bpf.c. Declares each hook
// with its implementations in order of preference, sizes the connection table from config, decodes ring-buffer
// batches and keeps the kernel's drop counters in ctx.drops.
import { bootNsToUnixNano } from '../../kernel/clock';
import type { CollectorSpec, LoadedCollector } from '../../kernel/loader';
import type { CollectorContext } from '../types';
import { RingCollector, decodeInto, type RecordHandler } from '../ring-collector';
import { NetworkDecoder } from './decode';
import { findListenerOwners, seedListenOwners } from './listeners';

export const NETWORK_RING = 'network_events';

/** The state machine hook is required; accept attribution and reset marks are optional (without them accept events
 *  are missing and close events lack the reset-sent mark, but connect/close still work). accept: fexit/kretprobe on
 *  inet_csk_accept fire only for TCP accepts; without them the handshake hook names the listener's owner (see
 *  network.bpf.c); the syscall-tracepoint fallback, last, taxes every syscall on the node (~25 ns). The legacy
 *  accept(2) syscall needs its own tracepoint only with that fallback. */
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
          // From the TCP state machine (listener's owner at the handshake): no syscall tracepoint, no syscall tax.
          { kind: 'tp_btf', program: 'accept_handshake_btf' },
          { kind: 'tracepoint', program: 'accept4_exit_tp', syscallTracepoint: true },
        ],
      },
      { name: 'accept_legacy_syscall', optional: true, onlyWith: { hook: 'accept', kind: 'tracepoint' },
        implementations: [{ kind: 'tracepoint', program: 'accept_exit_tp', syscallTracepoint: true }] },
      { name: 'tcp_send_reset', optional: true, implementations: [{ kind: 'tp_btf', program: 'send_reset_btf' }, { kind: 'tracepoint', program: 'send_reset_tp' }] },
      { name: 'tcp_receive_reset', optional: true, implementations: [{ kind: 'tp_btf', program: 'receive_reset_btf' }, { kind: 'tracepoint', program: 'receive_reset_tp' }] },
    ],
    mapMaxEntries: { [NETWORK_RING]: config.ringBufferBytes, tcp_conns: config.connectionTableSize },
  };
}

export class NetworkCollector extends RingCollector {
  readonly name = 'network';
  protected readonly ringName = NETWORK_RING;
  protected override readonly usesLimits = true;
  private decoder: NetworkDecoder | undefined;

  protected spec(ctx: CollectorContext): CollectorSpec {
    const k = ctx.config.kernel;
    return networkCollectorSpec({ ringBufferBytes: k.ringBufferBytes, connectionTableSize: ctx.config.collectors.network.connectionTableSize });
  }

  protected prepare(loaded: LoadedCollector, ctx: CollectorContext): RecordHandler {
    const accept = loaded.hooks.find((h) => h.name === 'accept')?.chosen;
    if (accept?.program === 'accept_handshake_btf') {
      // Listeners older than the agent: their owners from /proc, once (newer ones are seen at listen()).
      try {
        seedListenOwners(loaded.map('listen_owners'), findListenerOwners());
      } catch (e) {
        ctx.log(`network: cannot read listening sockets from /proc (${(e as Error).message}); accepts on listeners ` +
          'older than the agent will name the container but not the process');
      }
    }
    const decoder = new NetworkDecoder({ drops: ctx.drops, toUnixNano: bootNsToUnixNano });
    this.decoder = decoder;
    return decodeInto(decoder);
  }

  protected eventCounts(): Record<string, number> {
    return this.decoder?.counts ?? {};
  }

  protected override counters(): Record<string, number> {
    return { owner_unknown: this.decoder?.ownerUnknown ?? 0 };
  }
}
