// What the security config means, compiled once: which detections run (and so which kernel detections and hooks),
// their severities and scopes, the kernel path rules in order, and the allowlist as a predicate over events.
import type { SecurityConfig, PathRuleConfig, AllowRuleConfig } from '../../config/security';
import type { TapioEvent } from '../../core/event';
import type { DropCounters } from '../../core/drops';
import { DETECTIONS, detectionByName, type Detection, type Severity, type Scope } from './detections';
import {
  RULE_CONNECT, RULE_EXEC, RULE_HOST, RULE_PREFIX, RULE_READ, RULE_SUFFIX, RULE_WRITE, encodePathRule,
} from './layout';

export interface ActiveDetection extends Detection {
  enabledHere: boolean;
  effectiveSeverity: Severity;
  effectiveScope: Scope;
}

export interface SecurityPolicy {
  detections: Map<string, ActiveDetection>;
  /** Kernel detections (enum sec_detection) that must run. */
  kernelDetections: Set<number>;
  /** Bit per kernel detection: report host processes too. */
  hostScopeMask: number;
  enabledMask: number;
  rules: PathRuleConfig[];
  encodedRules: Buffer[];
  /** True when an event must not be reported, by the entries that need no identity (judged as it is decoded). */
  allowed(e: TapioEvent): boolean;
  /** The same for entries that name namespaces, workloads or images: judged after identity enrichment. */
  allowedAfterIdentity(e: TapioEvent): boolean;
}

const ACCESS_FLAG = { read: RULE_READ, write: RULE_WRITE, exec: RULE_EXEC, connect: RULE_CONNECT } as const;

/** `*` matches any run of characters; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

function ruleFlags(r: PathRuleConfig): number {
  let f = r.match === 'suffix' ? RULE_SUFFIX : RULE_PREFIX;
  for (const a of r.access) f |= ACCESS_FLAG[a];
  return r.host ? f | RULE_HOST : f;
}

const WORKLOAD_KEYS = ['k8s.deployment.name', 'k8s.daemonset.name', 'k8s.statefulset.name', 'k8s.job.name', 'k8s.cronjob.name',
  'k8s.replicaset.name', 'k8s.pod.name'];

function compileAllow(a: AllowRuleConfig): (e: TapioEvent) => boolean {
  const detections = a.detections && new Set(a.detections.map((d) => `security.${d}`));
  const exes = a.executables?.map(globToRegExp);
  const images = a.images?.map(globToRegExp);
  const namespaces = a.namespaces && new Set(a.namespaces);
  const workloads = a.workloads && new Set(a.workloads);
  return (e) => {
    const at = e.attributes;
    if (detections && !detections.has(e.name)) return false;
    const inContainer = at['tapio.security.in_container'] === true;
    if (a.where === 'host' && inContainer) return false;
    if (a.where === 'containers' && !inContainer) return false;
    if (exes) {
      const path = String(at['process.executable.path'] ?? '');
      const base = path.slice(path.lastIndexOf('/') + 1);
      if (!exes.some((x) => x.test(path) || x.test(base))) return false;
    }
    if (images && !images.some((x) => x.test(String(at['container.image.name'] ?? '')))) return false;
    if (namespaces && !namespaces.has(String(at['k8s.namespace.name'] ?? ''))) return false;
    if (workloads && !WORKLOAD_KEYS.some((k) => at[k] !== undefined && workloads.has(String(at[k])))) return false;
    return true;
  };
}

/** Which allow entries look at identity (namespaces, workloads, images): those can only be judged after enrichment. */
export function needsIdentity(a: AllowRuleConfig): boolean {
  return !!(a.namespaces || a.workloads || a.images);
}

export function compilePolicy(cfg: SecurityConfig): SecurityPolicy {
  const detections = new Map<string, ActiveDetection>();
  const kernelDetections = new Set<number>();
  let hostScopeMask = 0;
  const rules = [...cfg.paths, ...cfg.extraPaths];
  for (const d of DETECTIONS) {
    const o = (cfg.detections as Record<string, { enabled?: boolean; severity?: Severity; scope?: Scope }>)[d.name] ?? {};
    let enabledHere = o.enabled ?? true;
    // A path-rule detection with no rules has nothing to watch.
    const ruleBased = rules.some((r) => r.detection === d.name);
    if (['file.credential_read', 'file.system_write', 'host.escape_lever', 'exec.temp_dir', 'host.runtime_socket'].includes(d.name) && !ruleBased) enabledHere = false;
    const effectiveScope = o.scope ?? d.scope;
    detections.set(d.name, { ...d, enabledHere, effectiveSeverity: o.severity ?? d.severity, effectiveScope });
    if (!enabledHere) continue;
    for (const k of d.kernel) {
      kernelDetections.add(k);
      if (effectiveScope === 'all') hostScopeMask |= 1 << k;
    }
  }
  // Path rules carry their own scope (RULE_HOST); a detection scoped to all marks its rules for host processes.
  const hostRules = rules.map((r) => ({ ...r, host: r.host || detections.get(r.detection)?.effectiveScope === 'all' }))
    .filter((r) => detections.get(r.detection)?.enabledHere);
  for (const r of hostRules) if (r.host) for (const k of detections.get(r.detection)!.kernel) hostScopeMask |= 1 << k;
  let enabledMask = 0;
  for (const k of kernelDetections) enabledMask |= 1 << k;
  const entries = [...cfg.allow, ...cfg.extraAllow];
  const early = entries.filter((a) => !needsIdentity(a)).map(compileAllow);
  const late = entries.filter(needsIdentity).map(compileAllow);
  return {
    detections, kernelDetections, hostScopeMask, enabledMask, rules: hostRules,
    encodedRules: hostRules.map((r) => encodePathRule(r.path, ruleFlags(r))),
    allowed: (e) => early.some((a) => a(e)),
    allowedAfterIdentity: (e) => late.some((a) => a(e)),
  };
}

/**
 * The pipeline rule for allow entries that name namespaces, workloads or container images: those attributes exist
 * only after identity enrichment, so the collector cannot judge them. Left-out events are counted as allowlisted.
 */
export function securityIdentityAllowRule(policy: SecurityPolicy, drops?: DropCounters): (events: TapioEvent[]) => TapioEvent[] {
  return (events) => {
    let out: TapioEvent[] | undefined; // a new array only once an event is left out: most batches pass whole
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (!e.name.startsWith('security.') || !policy.allowedAfterIdentity(e)) {
        out?.push(e);
        continue;
      }
      drops?.count('pipeline', e.name, 'allowlisted');
      out ??= events.slice(0, i);
    }
    return out ?? events;
  };
}

export function detectionOf(name: string): Detection | undefined {
  return detectionByName.get(name);
}
