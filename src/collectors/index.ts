// Registers every collector with the registry, in start order. Importing this module is what makes `tapio run`
// and `tapio probe` know about them.
import { parseConfig } from '../config/load';
import { registerCollector } from './registry';
import { ProcessCollector, processCollectorSpec } from './process';
import { NetworkCollector, networkCollectorSpec } from './network';
import { CgroupCollector, cgroupCollectorSpec } from './cgroup';
import { RequestsCollector, requestsHookPlan } from './requests';

const defaults = parseConfig('');

// First, so identity knows new cgroups before the events that happen in them are decoded.
registerCollector({
  name: 'cgroup',
  enabled: (c) => c.identity.enabled,
  hooks: cgroupCollectorSpec().hooks,
  create: (loader) => new CgroupCollector(loader),
});

registerCollector({
  name: 'process',
  enabled: (c) => c.collectors.process.enabled,
  hooks: processCollectorSpec(defaults.kernel).hooks,
  create: (loader) => new ProcessCollector(loader),
});

registerCollector({
  name: 'network',
  enabled: (c) => c.collectors.network.enabled,
  hooks: networkCollectorSpec({ ...defaults.kernel, connectionTableSize: defaults.collectors.network.connectionTableSize }).hooks,
  create: (loader) => new NetworkCollector(loader),
});

registerCollector({
  name: 'requests',
  enabled: (c) => c.collectors.requests.enabled,
  hooks: requestsHookPlan(),
  create: (loader) => new RequestsCollector(loader),
});
