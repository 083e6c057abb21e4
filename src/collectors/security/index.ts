// The security collector: namespace breakouts, host-level operations, privilege escalation, sensitive files and
// suspicious execution from bpf/security.bpf.c (docs/security.md). Attaches only the hooks enabled detections need,
// writes the host's namespaces, the agent's pid, the path rules and shell names into the kernel, and decodes records
// into `security.*` events.
import * as fs from 'node:fs';
import { bootNsToUnixNano } from '../../kernel/clock';
import type { CollectorSpec, LoadedCollector } from '../../kernel/loader';
import { u32Key } from '../../kernel/maps';
import type { SecurityConfig } from '../../config/security';
import type { CollectorContext } from '../types';
import { RingCollector, decodeInto, type RecordHandler } from '../ring-collector';
import { SecurityDecoder } from './decode';
import { LSM_OPS, hooksFor } from './detections';
import { NS_NAMES, encodeSettings, encodeShell } from './layout';
import { compilePolicy, type SecurityPolicy } from './policy';

export const SECURITY_RING = 'security_events';

export function securityCollectorSpec(cfg: SecurityConfig): CollectorSpec {
  const policy = compilePolicy(cfg);
  return {
    name: 'security',
    object: 'security.bpf.o',
    hooks: hooksFor(policy.kernelDetections),
    mapMaxEntries: { [SECURITY_RING]: cfg.ringBufferBytes },
  };
}

/** Namespace inodes of `pid` (enum sec_ns order): the host anchors. /proc/1/ns may be unreadable: default self. */
export function namespaceInodes(pid: number | 'self' = 'self'): number[] {
  return NS_NAMES.map((n) => {
    try {
      return Number(/\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${pid}/ns/${n}`))?.[1] ?? 0);
    } catch {
      return 0;
    }
  });
}

export class SecurityCollector extends RingCollector {
  readonly name = 'security';
  protected readonly ringName = SECURITY_RING;
  protected override readonly usesLimits = true;
  private decoder: SecurityDecoder | undefined;
  policy: SecurityPolicy | undefined;
  hostNs: number[] = [];

  protected spec(ctx: CollectorContext): CollectorSpec {
    return securityCollectorSpec(ctx.config.collectors.security);
  }

  protected prepare(loaded: LoadedCollector, ctx: CollectorContext): RecordHandler {
    const cfg = ctx.config.collectors.security;
    const policy = compilePolicy(cfg);
    this.policy = policy;
    this.hostNs = namespaceInodes(cfg.hostNamespacesFromPid ?? 'self');
    if (this.hostNs.some((n) => n === 0)) ctx.log(`security: could not read every host namespace (${this.hostNs.join(',')}): escape detection may be wrong`);
    policy.encodedRules.forEach((r, i) => loaded.map('security_path_rules').update(u32Key(i), r));
    for (const s of cfg.shells) loaded.map('security_shells').update(encodeShell(s), Buffer.from([1]));
    let lsmMask = 0;
    for (const h of loaded.hooks) if (h.chosen?.kind === 'lsm' && LSM_OPS[h.name]) lsmMask |= 1 << LSM_OPS[h.name];
    const module = loaded.hooks.find((h) => h.name === 'module-load');
    if (module && !module.chosen) ctx.log('kernel module loads cannot be watched here: no BPF LSM and no finit_module tracepoint (a kernel built without CONFIG_MODULES cannot load modules either)');
    const decoder = new SecurityDecoder({ policy, hostNs: this.hostNs, drops: ctx.drops, toUnixNano: bootNsToUnixNano });
    this.decoder = decoder;
    // Last: the programs are attached already and do nothing until this says which detections are on.
    loaded.map('security_settings').update(u32Key(0), encodeSettings({
      enabledMask: policy.enabledMask, hostScopeMask: policy.hostScopeMask, agentTgid: process.pid, lsmMask,
      hostNs: this.hostNs, bootToWallNs: bootNsToUnixNano(0n),
    }));
    return decodeInto(decoder);
  }

  protected eventCounts(): Record<string, number> {
    return this.decoder?.counts ?? {};
  }

  protected override counters(): Record<string, number> {
    const tracepoints = this.loaded?.hooks.filter((h) => h.chosen?.kind === 'tracepoint').length ?? 0;
    return {
      allowlisted: this.decoder?.allowlisted ?? 0,
      out_of_scope: this.decoder?.outOfScope ?? 0,
      syscall_tracepoints_attached: tracepoints,
    };
  }
}
