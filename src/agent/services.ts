// What `tapio run` wires around the agent besides the console: identity enrichment (cgroups, runtimes,
// Kubernetes), OTLP export, the agent's own metrics and health endpoints. Each is built from config, degrades on its
// own (a missing runtime or API server never stops the agent) and is stopped with the agent.
import * as os from 'node:os';
import type { TapioConfig } from '../config/schema';
import type { DropCounters } from '../core/drops';
import type { EventSink } from '../core/sink';
import type { Attributes, TapioEvent } from '../core/event';
import { IdentityResolver } from '../identity';
import { createKubernetesMetadata, peerAttributes, type KubernetesMetadataSource } from '../identity/kubernetes';
import { createOtlpExporter, type OtlpExporter } from '../export/otlp';
import { tapioResource } from '../export/resource';
import { createLimits, type LimitsHandle } from '../pipeline/limits';
import { startObserveServer, type ObserveServer, type ReadinessCheck } from '../observe';
import { otlpExporterHealth } from '../export/health';
import { releaseBuffer } from '../kernel/heap';
import type { Agent } from './agent';
import { registerRuntimeMetrics, runtimeReadiness } from '../observe/runtimes';
import { observeAccess } from '../observe/listen';
import { StartupError } from '../agent/startup';
import type { ConfigReloader } from './reload';

export interface RuntimeServices {
  sinks: EventSink[];
  /** Who sends: the node and cluster (and its uid, node labels when Kubernetes says so), shared by every event. */
  resourceAttributes: Attributes;
  enrich?: (e: TapioEvent) => void;
  identity?: IdentityResolver;
  kubernetes?: KubernetesMetadataSource;
  otlp?: OtlpExporter;
  observe?: ObserveServer;
  afterStart?: (agent: Agent) => Promise<void>;
  /** Set by afterStart; a config reload rewrites them (src/agent/reload.ts). */
  limits?: LimitsHandle;
  budget?: { cpuFraction: number; memoryBytes: number };
  /** Set by `tapio run --config FILE` once the file is watched; /status shows its last reload. */
  configReload?: ConfigReloader;
  /** Before the agent stops: what reads its kernel objects (limits controller, observe server) goes first. */
  beforeAgentStop(): Promise<void>;
  stop(): Promise<void>;
}

/** OTLP is on when the config says so or when the standard OTEL_EXPORTER_OTLP_*ENDPOINT variables name a collector. */
export function otlpWanted(config: TapioConfig, env: NodeJS.ProcessEnv = process.env): boolean {
  return config.export.otlp.enabled || ['', 'LOGS_', 'METRICS_', 'TRACES_'].some((s) => !!env[`OTEL_EXPORTER_OTLP_${s}ENDPOINT`]);
}

/** How long start-up waits for the Kubernetes API before building the resource without what it would have said. */
const KUBERNETES_RESOURCE_WAIT_MS = 3000;

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
    resourceAttributes: {},
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
    services.enrich = enrichWith(identity, kubernetes);
    // The resource is fixed for the agent's life (as OpenTelemetry resources are): give the API server a moment to
    // tell the cluster uid and node labels before it is built. Events are not waiting: collectors start after.
    if (kubernetes && !(await kubernetes.whenSynced(KUBERNETES_RESOURCE_WAIT_MS))) {
      log(`kubernetes: not synced within ${KUBERNETES_RESOURCE_WAIT_MS} ms; the resource goes out without the cluster uid and node labels`);
    }
  }
  services.resourceAttributes = {
    'k8s.node.name': nodeName(config),
    ...(config.cluster.name ? { 'k8s.cluster.name': config.cluster.name } : {}),
    ...(services.kubernetes?.resourceAttributes() ?? {}),
  };

  if (otlpWanted(config)) {
    // Resource: the agent and its node/cluster; per-event identity stays on each record.
    const otlp = createOtlpExporter(config.export.otlp, {
      drops,
      resource: tapioResource({ nodeName: nodeName(config), clusterName: config.cluster.name, attributes: services.resourceAttributes,
        configured: config.export.otlp.resourceAttributes }),
      log: (m) => log(`export: ${m}`),
      releaseBuffer,
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
    services.limits = limits;
    const budget = services.budget = { cpuFraction: config.limits.budget.cpuPercent / 100, memoryBytes: config.limits.budget.memoryMiB * 1048576 };
    if (!config.observe.enabled) return;
    const readiness: ReadinessCheck[] = [];
    if (services.identity) {
      // Informational: a node without any runtime is still ready (host processes are still attributed).
      const id = services.identity;
      readiness.push(runtimeReadiness(() => id.stats().runtimes));
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
        ...observeAccess(config.observe),
        log: (m) => log(m),
        sources: {
          agent,
          limits,
          readiness,
          exporters: () => (services.otlp ? [otlpExporterHealth('otlp', services.otlp)] : []),
          budget,
          configReload: () => services.configReload?.status(),
        },
      });
      services.observe = observe;
      if (services.identity) registerRuntimeMetrics(observe.registry, () => services.identity!.stats().runtimes);
      earlyStops.push(() => observe.close());
      log(`metrics and health on ${observe.url} (/metrics /healthz /readyz /status)`);
    } catch (e) {
      if (e instanceof StartupError) throw e; // another agent holds the address, or it is unsafe: refuse to run
      // Anything else must not stop the agent from collecting; say so and carry on.
      log(`observe server not started on ${config.observe.address}: ${(e as Error).message}`);
    }
  };
  return services;
}

/**
 * Per-event identity: the container/pod/workload of the task (IdentityResolver), and for a network peer the Service
 * its IP belongs to and the pod that has it (tapio.network.peer.k8s.*; src/identity/kubernetes/peers.ts). The node and cluster are not copied onto events: they are the resource.
 */
export function enrichWith(identity: IdentityResolver, kubernetes: KubernetesMetadataSource | undefined): (e: TapioEvent) => void {
  return (e) => {
    identity.enrich(e);
    if (!kubernetes) return;
    const peer = e.attributes['network.peer.address'];
    if (typeof peer === 'string') {
      const svc = kubernetes.serviceForIp(peer);
      if (svc) e.attributes['tapio.network.peer.service'] = svc;
      const pod = kubernetes.peerForIp(peer);
      if (pod) peerAttributes(pod, e.attributes);
    }
  };
}
