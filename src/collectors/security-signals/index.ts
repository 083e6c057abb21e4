// The security-signals collector: seccomp violations (SIGSYS from seccomp; ERRNO denials of the watched syscalls)
// and packets dropped by netfilter, from bpf/security_signals.bpf.c. Declares each hook with its implementations
// in order of preference (only the pairs of the syscalls listed in config are loaded), decodes ring-buffer batches.
// LSM denials and seccomp audit records come from the audit collector (src/collectors/audit).
import { bootNsToUnixNano } from '../../kernel/clock';
import type { CollectorSpec, HookSpec, LoadedCollector } from '../../kernel/loader';
import type { SecuritySignalsConfig } from '../../config/security-signals';
import type { CollectorContext } from '../types';
import { RingCollector, decodeInto, type RecordHandler } from '../ring-collector';
import { SecuritySignalsDecoder } from './decode';
import { NetnsIndex } from './netns';

export const SECURITY_SIGNALS_RING = 'security_signal_events';

export function securitySignalsCollectorSpec(config: { ringBufferBytes: number; signals: SecuritySignalsConfig }): CollectorSpec {
  const hooks: HookSpec[] = [];
  if (config.signals.seccomp.enabled) {
    hooks.push({ name: 'seccomp_sigsys', implementations: [{ kind: 'tp_btf', program: 'sigsys_btf' }, { kind: 'tracepoint', program: 'sigsys_tp' }] });
    for (const s of config.signals.seccomp.watchedSyscalls) {
      // Each pair is optional: a syscall this kernel lacks (no module syscalls with CONFIG_MODULES=n) is reported.
      hooks.push({ name: `seccomp_errno_${s}_enter`, optional: true, implementations: [{ kind: 'tracepoint', program: `enter_${s}` }] });
      hooks.push({ name: `seccomp_errno_${s}_exit`, optional: true, implementations: [{ kind: 'tracepoint', program: `exit_${s}` }] });
    }
  }
  if (config.signals.policyDrops.enabled) {
    hooks.push({ name: 'netfilter_drop', optional: hooks.length > 0,
      implementations: [{ kind: 'tp_btf', program: 'kfree_skb_btf' }, { kind: 'tracepoint', program: 'kfree_skb_tp' }] });
  }
  return { name: 'security-signals', object: 'security_signals.bpf.o', hooks, mapMaxEntries: { [SECURITY_SIGNALS_RING]: config.ringBufferBytes } };
}

export class SecuritySignalsCollector extends RingCollector {
  readonly name = 'security-signals';
  protected readonly ringName = SECURITY_SIGNALS_RING;
  protected override readonly usesLimits = true;
  private decoder: SecuritySignalsDecoder | undefined;
  private netns: NetnsIndex | undefined;

  protected spec(ctx: CollectorContext): CollectorSpec {
    // Security records are rare: a small ring (1/8 of the configured size, at least 256 KiB) is plenty.
    const bytes = Math.max(256 << 10, ctx.config.kernel.ringBufferBytes >> 3);
    return securitySignalsCollectorSpec({ ringBufferBytes: bytes, signals: ctx.config.securitySignals });
  }

  protected prepare(_loaded: LoadedCollector, ctx: CollectorContext): RecordHandler {
    this.netns = new NetnsIndex();
    const decoder = new SecuritySignalsDecoder({ drops: ctx.drops, toUnixNano: bootNsToUnixNano, netns: this.netns });
    this.decoder = decoder;
    return decodeInto(decoder);
  }

  protected eventCounts(): Record<string, number> {
    return this.decoder?.counts ?? {};
  }

  protected override counters(): Record<string, number> {
    return {
      process_gone: this.decoder?.processGone ?? 0,
      seccomp_merged_with_audit: this.decoder?.mergedDuplicates ?? 0,
      ingress_drop_unattributed: this.decoder?.unattributedIngress ?? 0,
      netns_lookup_misses: this.netns?.misses ?? 0,
    };
  }
}
