// Config of the Kubernetes metadata source (src/identity/kubernetes): how to reach the API server, which pod labels
// and annotations are copied onto events, and the bounds of the caches. The lead wires this object into identity.ts.
import { z } from 'zod';

/** A label/annotation key, or a prefix ending in `*` (e.g. `app.kubernetes.io/*`). */
const keyPattern = z.string().min(1).max(317).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*\*?$|^\*$/,
  'a label or annotation key such as "app" or "app.kubernetes.io/name", or a prefix ending in "*"');

export const kubernetesConfigSchema = z.object({
  /** 'auto': use the API when a service account or kubeconfig is found, otherwise run in host mode. */
  enabled: z.union([z.literal('auto'), z.boolean()]).default('auto'),
  /** Path of a kubeconfig for out-of-cluster use; defaults to $KUBECONFIG, then ~/.kube/config. */
  kubeconfig: z.string().min(1).optional(),
  /** Pod labels copied onto events as `k8s.pod.label.<key>`. */
  podLabels: z.array(keyPattern).max(200).default([
    'app', 'app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version',
    'app.kubernetes.io/component', 'app.kubernetes.io/part-of',
  ]),
  /** Pod annotations copied onto events as `k8s.pod.annotation.<key>`; none by default (they can be large). */
  podAnnotations: z.array(keyPattern).max(200).default([]),
  /** Node labels added to the resource as `k8s.node.label.<key>` (zone, region and instance type are always kept). */
  nodeLabels: z.array(keyPattern).max(200).default([]),
  /** Watch Services and EndpointSlices (cluster-wide, small) so peer IPs can be named `<service>.<namespace>`. */
  services: z.boolean().default(true),
  owners: z.object({
    /** How long a looked-up ReplicaSet/Job owner is trusted before it is fetched again. */
    ttlSeconds: z.number().int().min(1).max(86_400).default(600),
    /** At most this many owners are cached; the least recently used goes first. */
    maxEntries: z.number().int().min(10).max(100_000).default(2000),
  }).strict().prefault({}),
  /** Reconnect backoff after the API server fails: doubles from initial up to max, with jitter. */
  backoff: z.object({
    initialMs: z.number().int().min(10).max(60_000).default(500),
    maxMs: z.number().int().min(100).max(600_000).default(30_000),
  }).strict().prefault({}),
  /** Server-side watch timeout; the API server ends the watch after this and the informer re-watches. */
  watchTimeoutSeconds: z.number().int().min(1).max(3600).default(300),
  /** Timeout of one list or get request. */
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(15_000),
}).strict().prefault({});

export type KubernetesConfig = z.infer<typeof kubernetesConfigSchema>;
