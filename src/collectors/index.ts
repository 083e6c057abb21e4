// Every collector the agent knows, as data, in start order. `tapio run` starts the enabled ones; `tapio probe`
// shows which implementation each hook would use here. A new collector is one more entry in COLLECTORS.
import type { HookSpec, LoaderOptions } from '../kernel/loader';
import type { TapioConfig } from '../config/schema';
import type { Collector } from './types';
import { ProcessCollector, processCollectorSpec } from './process';
import { NetworkCollector, networkCollectorSpec } from './network';
import { CgroupCollector, cgroupCollectorSpec } from './cgroup';
import { SecurityCollector, securityCollectorSpec } from './security';
import { SecuritySignalsCollector, securitySignalsCollectorSpec } from './security-signals';
import { AuditCollector } from './audit';
import { RequestsCollector, requestsHookPlan } from './requests';
import { tlsHookPlan } from './tls';

export interface CollectorEntry {
  name: string;
  enabled(config: TapioConfig): boolean;
  /** The hooks it would attach with this config (for `tapio probe`'s plan). */
  hooks(config: TapioConfig): HookSpec[];
  /** loader: what the kernel probe found (kinds to skip), passed on to loadCollector. */
  create(loader: LoaderOptions): Collector;
}

export const COLLECTORS: readonly CollectorEntry[] = [
  // First, so identity knows new cgroups before the events that happen in them are decoded.
  {
    name: 'cgroup',
    enabled: (c) => c.identity.enabled,
    hooks: () => cgroupCollectorSpec().hooks,
    create: (loader) => new CgroupCollector(loader),
  },
  {
    name: 'process',
    enabled: (c) => c.collectors.process.enabled,
    hooks: (c) => processCollectorSpec(c.kernel).hooks,
    create: (loader) => new ProcessCollector(loader),
  },
  {
    name: 'network',
    enabled: (c) => c.collectors.network.enabled,
    hooks: (c) => networkCollectorSpec({ ...c.kernel, connectionTableSize: c.collectors.network.connectionTableSize }).hooks,
    create: (loader) => new NetworkCollector(loader),
  },
  {
    name: 'security',
    enabled: (c) => c.collectors.security.enabled,
    hooks: (c) => securityCollectorSpec(c.collectors.security).hooks,
    create: (loader) => new SecurityCollector(loader),
  },
  // Seccomp violations and netfilter policy drops (BPF), and LSM denials from the audit netlink socket.
  {
    name: 'security-signals',
    enabled: (c) => c.securitySignals.seccomp.enabled || c.securitySignals.policyDrops.enabled,
    hooks: (c) => securitySignalsCollectorSpec({ ringBufferBytes: c.kernel.ringBufferBytes, signals: c.securitySignals }).hooks,
    create: (loader) => new SecuritySignalsCollector(loader),
  },
  {
    name: 'audit',
    enabled: (c) => c.securitySignals.lsm.enabled,
    hooks: () => [],
    create: () => new AuditCollector(),
  },
  {
    name: 'requests',
    enabled: (c) => c.collectors.requests.enabled,
    hooks: (c) => [...requestsHookPlan(), ...(c.collectors.requests.tls.enabled ? tlsHookPlan() : [])],
    create: (loader) => new RequestsCollector(loader),
  },
];
