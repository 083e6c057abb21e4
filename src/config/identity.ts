// Config of container, pod and workload attribution (src/identity). Owned by the identity work.
import { z } from 'zod';
import { kubernetesConfigSchema } from './kubernetes';

const runtimeEndpointSchema = z.object({
  /** cri: containerd, k3s, CRI-O (runtime.v1 over gRPC); docker and podman: the Docker Engine API. */
  kind: z.enum(['cri', 'docker', 'podman']),
  /** Absolute path of the runtime's unix socket. */
  socket: z.string().startsWith('/', 'must be an absolute path to a unix socket'),
  runtime: z.enum(['containerd', 'cri-o', 'docker', 'podman']).optional(),
}).strict();

export const identityConfigSchema = z.object({
  enabled: z.boolean().default(true),
  cgroups: z.object({
    /** Most cgroup ids (and their attributes) remembered. */
    cacheSize: z.number().int().min(64).max(10_000_000).default(65536),
    /** Least time between two walks of the cgroup tree caused by unknown ids, ms. */
    minScanIntervalMs: z.number().int().min(10).max(600_000).default(1000),
    /** Most directories one walk of the cgroup tree visits. */
    maxScanDirectories: z.number().int().min(100).max(10_000_000).default(200_000),
  }).strict().prefault({}),
  runtimes: z.object({
    /** Sockets to watch; the defaults cover containerd, k3s, CRI-O, Docker and podman. Missing ones are retried. */
    endpoints: z.array(runtimeEndpointSchema).max(32).optional(),
    /** Re-list every runtime this often even without a reason to, ms. */
    relistIntervalMs: z.number().int().min(1000).max(3_600_000).default(30_000),
    /** Least time between two re-lists caused by unknown containers, ms. */
    minRelistIntervalMs: z.number().int().min(10).max(600_000).default(1000),
    backoffInitialMs: z.number().int().min(10).max(600_000).default(500),
    backoffMaxMs: z.number().int().min(100).max(3_600_000).default(30_000),
    /** Deadline of each runtime call, ms. */
    deadlineMs: z.number().int().min(100).max(120_000).default(5000),
  }).strict().prefault({}),
  /** How long computed attributes of a cgroup are reused before Kubernetes metadata is consulted again, ms. */
  attributesTtlMs: z.number().int().min(100).max(3_600_000).default(10_000),
  kubernetes: kubernetesConfigSchema,
}).strict().prefault({});

export type IdentityConfig = z.infer<typeof identityConfigSchema>;
