// What `tapio run` wires around the agent besides the console: identity enrichment (cgroups, runtimes,
// Kubernetes), OTLP export, the agent's own metrics and health endpoints. Each is built from config, degrades on its
// own (a missing runtime or API server never stops the agent) and is stopped with the agent.
import * as os from 'node:os';
import type { TapioConfig } from '../config/schema';
import type { DropCounters } from '../pipeline/drops';
import type { EventSink } from '../pipeline/pipeline';
import type { TapioEvent } from '../pipeline/event';
import { IdentityResolver } from '../identity';
import { createKubernetesMetadata, type KubernetesMetadataSource } from '../identity/kubernetes';
import type { Agent } from './agent';

export interface RuntimeServices {
  sinks: EventSink[];
  enrich?: (e: TapioEvent) => void;
  identity?: IdentityResolver;
  kubernetes?: KubernetesMetadataSource;
  afterStart?: (agent: Agent) => Promise<void>;
  stop(): Promise<void>;
}

export function nodeName(config: TapioConfig): string {
  return config.node.name ?? process.env.NODE_NAME ?? os.hostname();
}

export async function createRuntimeServices(config: TapioConfig, drops: DropCounters,
  log: (m: string) => void = (m) => process.stderr.write(`tapio: ${m}\n`)): Promise<RuntimeServices> {
  const stops: (() => Promise<void>)[] = [];
  const services: RuntimeServices = {
    sinks: [],
    async stop() {
      for (const s of stops.reverse()) await s().catch((e) => log(`stop: ${(e as Error).message}`));
    },
  };

  if (config.identity.enabled) {
    const kubernetes = config.identity.kubernetes.enabled === false ? undefined : createKubernetesMetadata({
      config: config.identity.kubernetes, nodeName: nodeName(config), clusterName: config.cluster.name, drops,
    });
    if (kubernetes) stops.push(() => kubernetes.stop());
    const identity = new IdentityResolver({ config: config.identity, kubernetes, drops, log });
    await identity.start();
    stops.push(async () => identity.stop());
    services.identity = identity;
    services.kubernetes = kubernetes;
    services.enrich = (e) => identity.enrich(e);
  }
  return services;
}
