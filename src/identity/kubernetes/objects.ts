// The shapes of the Kubernetes objects Tapio keeps, and the check that turns what the API server sent into them.
// Parsing with zod both validates and projects: unknown fields (managedFields, specs, most of status) are dropped
// on arrival, so the caches hold a few hundred bytes per object instead of the full object. An object that does not
// fit is rejected with a reason; callers count it and skip it.
import { z } from 'zod';

const stringMap = z.record(z.string(), z.string());

const ownerReference = z.object({
  apiVersion: z.string().nullish(),
  kind: z.string().min(1),
  name: z.string().min(1),
  uid: z.string().nullish(),
  controller: z.boolean().nullish(),
});
export type OwnerReference = z.infer<typeof ownerReference>;

const metadata = z.object({
  name: z.string().min(1),
  namespace: z.string().nullish(),
  uid: z.string().nullish(),
  resourceVersion: z.string().nullish(),
  labels: stringMap.nullish(),
  annotations: stringMap.nullish(),
  ownerReferences: z.array(ownerReference).nullish(),
});
export type ObjectMeta = z.infer<typeof metadata>;

const containerStatus = z.object({ name: z.string().min(1), containerID: z.string().nullish() });

const podSchema = z.object({
  metadata: metadata.extend({ uid: z.string().min(1), namespace: z.string().min(1) }),
  spec: z.object({ nodeName: z.string().nullish(), hostNetwork: z.boolean().nullish() }).nullish(),
  status: z.object({
    phase: z.string().nullish(),
    podIP: z.string().nullish(),
    podIPs: z.array(z.object({ ip: z.string() })).nullish(),
    containerStatuses: z.array(containerStatus).nullish(),
    initContainerStatuses: z.array(containerStatus).nullish(),
    ephemeralContainerStatuses: z.array(containerStatus).nullish(),
  }).nullish(),
});
export type Pod = z.infer<typeof podSchema>;

const nodeSchema = z.object({ metadata: metadata.extend({ uid: z.string().min(1) }) });
export type Node = z.infer<typeof nodeSchema>;

const namespaceSchema = z.object({ metadata: metadata.extend({ uid: z.string().min(1) }) });
export type Namespace = z.infer<typeof namespaceSchema>;

const serviceSchema = z.object({
  metadata: metadata.extend({ namespace: z.string().min(1) }),
  spec: z.object({
    clusterIP: z.string().nullish(),
    clusterIPs: z.array(z.string()).nullish(),
  }).nullish(),
});
export type Service = z.infer<typeof serviceSchema>;

const endpointSliceSchema = z.object({
  metadata: metadata.extend({ namespace: z.string().min(1) }),
  endpoints: z.array(z.object({
    addresses: z.array(z.string()).nullish(),
    targetRef: z.object({ kind: z.string().nullish(), name: z.string().nullish() }).nullish(),
  })).nullish(),
});
/** An EndpointSlice as kept: its endpoints flattened to one list of addresses (5000 slices: a third less heap), and
 *  beside it the name of the pod behind each address ('' when the endpoint is not a pod): a slice's pods are in
 *  its own namespace. */
export interface EndpointSlice {
  metadata: z.infer<typeof endpointSliceSchema>['metadata'];
  addresses: string[];
  pods?: string[];
}

/** An owner fetched on demand (ReplicaSet, Job): only who owns it matters. */
const ownerObjectSchema = z.object({ metadata });
export type OwnerObject = z.infer<typeof ownerObjectSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Keeps only the labels/annotations a projection needs; the rest can be large (last-applied-configuration). */
export type KeyFilter = (key: string) => boolean;

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid object';
  const where = issue.path.length ? issue.path.join('.') : 'object';
  return `${where}: ${issue.message}`;
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown): Parsed<T> {
  if (raw === null || typeof raw !== 'object') return { ok: false, error: `object: expected an object, got ${raw === null ? 'null' : typeof raw}` };
  const result = schema.safeParse(raw);
  return result.success ? { ok: true, value: result.data } : { ok: false, error: describe(result.error) };
}

function filterMap(map: Record<string, string> | null | undefined, keep: KeyFilter): Record<string, string> | undefined {
  if (!map) return undefined;
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(map)) {
    if (!keep(k)) continue;
    (out ??= {})[k] = v;
  }
  return out;
}

/** What each watched or fetched kind looks like to the parser. */
export interface Projection<T> {
  /** Name used in drop counters and status, e.g. `k8s.pod`. */
  kind: string;
  parse(raw: unknown): Parsed<T>;
}

export function podProjection(keepLabel: KeyFilter, keepAnnotation: KeyFilter): Projection<Pod> {
  return {
    kind: 'k8s.pod',
    parse(raw) {
      const r = parseWith(podSchema, raw);
      if (r.ok) {
        r.value.metadata.labels = filterMap(r.value.metadata.labels, keepLabel);
        r.value.metadata.annotations = filterMap(r.value.metadata.annotations, keepAnnotation);
      }
      return r;
    },
  };
}

export function nodeProjection(keepLabel: KeyFilter): Projection<Node> {
  return {
    kind: 'k8s.node',
    parse(raw) {
      const r = parseWith(nodeSchema, raw);
      if (r.ok) {
        r.value.metadata.labels = filterMap(r.value.metadata.labels, keepLabel);
        r.value.metadata.annotations = undefined;
      }
      return r;
    },
  };
}

export const namespaceProjection: Projection<Namespace> = {
  kind: 'k8s.namespace', parse: (raw) => parseWith(namespaceSchema, raw),
};

export const serviceProjection: Projection<Service> = {
  kind: 'k8s.service',
  parse(raw) {
    const r = parseWith(serviceSchema, raw);
    if (!r.ok) return r;
    const { metadata: m, spec } = r.value;
    return { ok: true, value: { metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion },
      spec: { clusterIP: spec?.clusterIP, clusterIPs: spec?.clusterIPs } } };
  },
};

/** The label that names an EndpointSlice's Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export const endpointSliceProjection: Projection<EndpointSlice> = {
  kind: 'k8s.endpointslice',
  parse(raw) {
    const r = parseWith(endpointSliceSchema, raw);
    if (!r.ok) return r;
    const { metadata: m, endpoints } = r.value;
    const serviceName = m.labels?.[SERVICE_NAME_LABEL];
    const addresses: string[] = [];
    const pods: string[] = [];
    for (const e of endpoints ?? []) {
      const pod = e.targetRef?.kind === 'Pod' && e.targetRef.name ? e.targetRef.name : '';
      for (const a of e.addresses ?? []) { addresses.push(a); pods.push(pod); }
    }
    return { ok: true, value: { metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion,
      ...(serviceName ? { labels: { [SERVICE_NAME_LABEL]: serviceName } } : {}) }, addresses,
    ...(pods.some((p) => p) ? { pods } : {}) } };
  },
};

export const ownerObjectProjection: Projection<OwnerObject> = {
  kind: 'k8s.owner',
  parse(raw) {
    const r = parseWith(ownerObjectSchema, raw);
    if (r.ok) { r.value.metadata.labels = undefined; r.value.metadata.annotations = undefined; }
    return r;
  },
};

/** Allowlist matcher: exact keys, or prefixes written as `prefix*`. */
export function keyMatcher(patterns: readonly string[]): KeyFilter {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  if (prefixes.length === 0) return (k) => exact.has(k);
  return (k) => exact.has(k) || prefixes.some((p) => k.startsWith(p));
}

/** `containerd://abc` -> `abc`; kubelet reports ids with the runtime as a URL scheme. */
export function stripRuntimePrefix(containerId: string): string {
  const i = containerId.indexOf('://');
  return i >= 0 ? containerId.slice(i + 3) : containerId;
}
