// Security rules that run on enriched events (after identity), just before the sinks:
//  - Contact with the Kubernetes API server from a pod: a TCP connect (or failed connect) from a containerised
//    process to the `kubernetes.default` Service or its endpoints (as the identity layer names peers), to
//    $KUBERNETES_SERVICE_HOST, or to a configured address, becomes a `security.k8s.apiserver_contact` event.
//  - Allowlists (executable, namespace, image, workload) and severity overrides for the events of the security
//    signals (seccomp, lsm, policy_drop, apiserver_contact). Allowlisted events are counted, not silently lost.
import type { Attributes, TapioEvent } from '../../core/event';
import type { SecuritySignalsConfig } from '../../config/security-signals';
import type { DropCounters } from '../../core/drops';
import { logSeverity, securityEvent, type SecuritySeverity } from './event';

export const APISERVER_CONTACT_EVENT = 'security.k8s.apiserver_contact';
const MY_DETECTIONS = new Set(['seccomp', 'lsm', 'policy_drop', 'apiserver_contact']);
const KUBERNETES_SERVICE = 'kubernetes.default';
/** Identity and process attributes copied from the connect event onto the contact event. */
const COPIED = /^(process\.|container\.|k8s\.|tapio\.process\.|tapio\.cgroup\.id$)/;

export interface RuleCounters {
  apiserverContacts: number;
  allowlisted: number;
}

export type EventRule = ((events: TapioEvent[]) => TapioEvent[]) & { counters: RuleCounters };

/** `host` or `host:port` -> matcher; IPv6 in brackets for a port: `[fd00::1]:443`. */
function parseAddress(s: string): { host: string; port?: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  if (!m) return { host: s.toLowerCase() };
  return { host: m[1]!.toLowerCase(), port: m[2] ? Number(m[2]) : undefined };
}

function matchesImage(image: string, patterns: string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? image.startsWith(p.slice(0, -1)) : image === p));
}

const WORKLOAD_KEYS = ['k8s.deployment.name', 'k8s.statefulset.name', 'k8s.daemonset.name', 'k8s.job.name', 'k8s.cronjob.name', 'k8s.replicaset.name'];

/** `drops`: allowlisted events are counted there (stage 'pipeline', reason 'allowlisted'), as the user asked. */
export function securitySignalRules(config: SecuritySignalsConfig, drops?: DropCounters, env: NodeJS.ProcessEnv = process.env): EventRule {
  const counters: RuleCounters = { apiserverContacts: 0, allowlisted: 0 };
  const contact = config.apiServerContact;
  const addresses = contact.addresses.map(parseAddress);
  if (env.KUBERNETES_SERVICE_HOST) {
    addresses.push({ host: env.KUBERNETES_SERVICE_HOST.toLowerCase(), port: env.KUBERNETES_SERVICE_PORT ? Number(env.KUBERNETES_SERVICE_PORT) : undefined });
  }
  const allowNs = new Set(contact.allowNamespaces);
  const allow = config.allow;
  const exes = new Set(allow.executables);
  const namespaces = new Set(allow.namespaces);
  const workloads = new Set(allow.workloads);

  const isApiServer = (a: Attributes): string | undefined => {
    if (a['tapio.network.peer.service'] === KUBERNETES_SERVICE) return 'service';
    const peer = typeof a['network.peer.address'] === 'string' ? (a['network.peer.address'] as string).toLowerCase() : undefined;
    if (!peer) return undefined;
    const port = a['network.peer.port'];
    return addresses.some((x) => x.host === peer && (x.port === undefined || x.port === port)) ? 'address' : undefined;
  };

  const allowlisted = (a: Attributes): boolean => {
    const exe = a['process.executable.path'];
    const name = a['process.executable.name'];
    if (exes.size && ((typeof exe === 'string' && exes.has(exe)) || (typeof name === 'string' && exes.has(name)))) return true;
    const ns = a['k8s.namespace.name'];
    if (typeof ns === 'string' && namespaces.has(ns)) return true;
    const image = a['container.image.name'];
    if (allow.images.length && typeof image === 'string' && matchesImage(image, allow.images)) return true;
    if (workloads.size && typeof ns === 'string') {
      for (const k of WORKLOAD_KEYS) if (typeof a[k] === 'string' && workloads.has(`${ns}/${a[k] as string}`)) return true;
    }
    return false;
  };

  const rule = ((events: TapioEvent[]): TapioEvent[] => {
    let out: TapioEvent[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      let derived: TapioEvent | undefined;
      let keep = true;
      const detection = e.attributes['tapio.security.detection'];
      if (typeof detection === 'string' && MY_DETECTIONS.has(detection)) {
        if (allowlisted(e.attributes)) {
          keep = false;
          counters.allowlisted++;
          drops?.count('pipeline', e.name, 'allowlisted');
        } else {
          const override = config.severity[detection as keyof SecuritySignalsConfig['severity']];
          if (override) {
            e.attributes['tapio.security.severity'] = override;
            e.severity = logSeverity(override);
          }
        }
      } else if (contact.enabled && (e.name === 'network.tcp.connect' || e.name === 'network.tcp.connect_failed')) {
        derived = apiServerContact(e);
      }
      if (!keep || derived) {
        out ??= events.slice(0, i);
        if (keep) out.push(e);
        if (derived) out.push(...rule([derived])); // allowlists and severity apply to the derived event too
      } else if (out) {
        out.push(e);
      }
    }
    return out ?? events;
  }) as EventRule;

  function apiServerContact(e: TapioEvent): TapioEvent | undefined {
    const a = e.attributes;
    // From a pod or container only: the node's own components (kubelet, the agent) talk to the API server by design.
    if (a['container.id'] === undefined && a['k8s.pod.uid'] === undefined) return undefined;
    if (a['tapio.network.direction'] === 'inbound') return undefined;
    const ns = a['k8s.namespace.name'];
    if (typeof ns === 'string' && allowNs.has(ns)) return undefined;
    const how = isApiServer(a);
    if (!how) return undefined;
    counters.apiserverContacts++;
    const attrs: Attributes = {};
    for (const [k, v] of Object.entries(a)) if (COPIED.test(k)) attrs[k] = v;
    for (const k of ['network.peer.address', 'network.peer.port', 'network.transport', 'network.type', 'tapio.network.peer.service']) {
      if (a[k] !== undefined) attrs[k] = a[k]!;
    }
    attrs['tapio.security.apiserver.matched_by'] = how;
    attrs['tapio.security.apiserver.connected'] = e.name === 'network.tcp.connect';
    attrs['tapio.security.source'] = e.name;
    const severity: SecuritySeverity = 'medium';
    return securityEvent(APISERVER_CONTACT_EVENT, 'apiserver_contact', severity, e.timeUnixNano, e.cgroupId, attrs);
  }

  rule.counters = counters;
  return rule;
}
