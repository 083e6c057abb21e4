// What `tapio run` wires around the agent besides the console: identity enrichment (cgroups, runtimes,
// Kubernetes), OTLP export, the agent's own metrics and health endpoints. Each is built from config, degrades on its
// own (a missing runtime or API server never stops the agent) and is stopped with the agent.
import * as os from 'node:os';
import type { TapioConfig } from '../config/schema';
import type { DropCounters } from '../core/drops';
import type { EventSink } from '../core/sink';
import type { TapioEvent } from '../core/event';
import { IdentityResolver } from '../identity';
import { createKubernetesMetadata, type KubernetesMetadataSource } from '../identity/kubernetes';
import { createOtlpExporter, type OtlpExporter } from '../export/otlp';
import { tapioResource } from '../export/resource';
import { createLimits } from '../pipeline/limits';
import { startObserveServer, type ObserveServer, type ReadinessCheck } from '../observe';
import { otlpExporterHealth } from '../export/health';
import type { Agent } from './agent';

export interface RuntimeServices {
  sinks: EventSink[];
  enrich?: (e: TapioEvent) => void;
  identity?: IdentityResolver;
  kubernetes?: KubernetesMetadataSource;
  otlp?: OtlpExporter;
  observe?: ObserveServer;
  afterStart?: (agent: Agent) => Promise<void>;
  /** Before the agent stops: what reads its kernel objects (limits controller, observe server) goes first. */
  beforeAgentStop(): Promise<void>;
  stop(): Promise<void>;
}

/** OTLP is on when the config says so or when the standard OTEL_EXPORTER_OTLP_*ENDPOINT variables name a collector. */
export function otlpWanted(config: TapioConfig, env: NodeJS.ProcessEnv = process.env): boolean {
  return config.export.otlp.enabled || ['', 'LOGS_', 'METRICS_', 'TRACES_'].some((s) => !!env[`OTEL_EXPORTER_OTLP_${s}ENDPOINT`]);
}

export function nodeName(config: TapioConfig): string {
  return config.node.name ?? process.env.NODE_NAME ?? os.hostname();
}

export async function createRuntimeServices(config: TapioConfig, drops: DropCounters,
  log: (m: string) => void = (m) => process.stderr.write(`tapio: ${m}\n`)): Promise<RuntimeServices> {
  const stops: (() => Promise<void>)[] = [];
  const earlyStops: (() => Promise<void>)[] = [];
  const runAll = async (list: (() => Promise<void>)[]) => {
    for (const s of list.splice(0).reverse()) await s().catch((e) => log(`stop: ${(e as Error).message}`));
  };
  const services: RuntimeServices = {
    sinks: [],
    beforeAgentStop: () => runAll(earlyStops),
    stop: async () => { await runAll(earlyStops); await runAll(stops); },
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
    services.enrich = enrichWith(identity, kubernetes, nodeName(config), config.cluster.name);
  }

  if (otlpWanted(config)) {
    // Resource: the agent and its node/cluster; per-event identity stays on each record.
    const otlp = createOtlpExporter(config.export.otlp, {
      drops,
      resource: tapioResource({ nodeName: nodeName(config), clusterName: config.cluster.name, configured: config.export.otlp.resourceAttributes }),
      log: (m) => log(`export: ${m}`),
    });
    services.otlp = otlp;
    services.sinks.push({ name: 'otlp', write: (events) => otlp.export(events) });
    stops.push(() => otlp.shutdown());
  }

  // Once collectors are loaded: rate limits and sampling into their maps, the adaptive controller, and the
  // agent's own /metrics, /healthz, /readyz and /status.
  services.afterStart = async (agent) => {
    const limits = createLimits({
      config: config.limits,
      objects: agent.collectors.flatMap((c) => c.kernelObjects?.() ?? []),
      log: (m) => log(m),
    });
    earlyStops.push(async () => limits.stop());
    if (!config.observe.enabled) return;
    const readiness: ReadinessCheck[] = [];
    if (services.identity) {
      // Informational: a node without any runtime is still ready (host processes are still attributed).
      const id = services.identity;
      readiness.push({ name: 'identity.runtimes', check: () => {
        const st = id.stats().runtimes;
        const up = st.filter((r) => r.state === 'connected').map((r) => `${r.runtime} ${r.socket} (${r.containers} containers)`);
        return { ready: true, detail: up.length ? `connected: ${up.join(', ')}` : 'no runtime socket present (host processes only)' };
      } });
    }
    if (services.kubernetes) {
      const k = services.kubernetes;
      readiness.push({ name: 'identity.kubernetes', check: () => {
        const st = k.status();
        return { ready: k.synced(), detail: st.lastError ?? `${st.mode}: ${st.source}` };
      } });
    }
    try {
      const observe = await startObserveServer({
        address: config.observe.address,
        programRunStats: config.observe.programRunStats,
        mapFillIntervalMs: config.observe.mapFillIntervalMs,
        log: (m) => log(m),
        sources: {
          agent,
          limits,
          readiness,
          exporters: () => (services.otlp ? [otlpExporterHealth('otlp', services.otlp)] : []),
          budget: { cpuFraction: config.limits.budget.cpuPercent / 100, memoryBytes: config.limits.budget.memoryMiB * 1048576 },
        },
      });
      services.observe = observe;
      earlyStops.push(() => observe.close());
      log(`metrics and health on ${observe.url} (/metrics /healthz /readyz /status)`);
    } catch (e) {
      // A taken port must not stop the agent from collecting; say so and carry on.
      log(`observe server not started on ${config.observe.address}: ${(e as Error).message}`);
    }
  };
  return services;
}

/**
 * Per-event identity: the container/pod/workload of the task (IdentityResolver), the node and cluster on every
 * event, and the Service name of a network peer when its IP belongs to one.
 */
export function enrichWith(identity: IdentityResolver, kubernetes: KubernetesMetadataSource | undefined,
  node: string, clusterName: string | undefined): (e: TapioEvent) => void {
  let resource: ReturnType<KubernetesMetadataSource['resourceAttributes']> = {};
  let resourceAt = 0;
  return (e) => {
    identity.enrich(e);
    const a = e.attributes;
    a['k8s.node.name'] = node;
    if (kubernetes) {
      const now = Date.now();
      if (now - resourceAt > 1000) { // the node and cluster change rarely: refresh once a second, not per event
        resource = kubernetes.resourceAttributes();
        resourceAt = now;
      }
      const r = resource;
      if (r['k8s.cluster.uid'] !== undefined) a['k8s.cluster.uid'] = r['k8s.cluster.uid'];
      if (r['k8s.cluster.name'] !== undefined) a['k8s.cluster.name'] = r['k8s.cluster.name'];
      const peer = a['network.peer.address'];
      if (typeof peer === 'string') {
        const svc = kubernetes.serviceForIp(peer);
        if (svc) a['tapio.network.peer.service'] = svc;
      }
    } else if (clusterName) {
      a['k8s.cluster.name'] = clusterName;
    }
  };
}
