// Config of the security signals outside the in-kernel detections: seccomp violations, LSM denials (audit netlink),
// netfilter policy drops and contact with the Kubernetes API server from pods. Every detection can be switched off;
// allowlists and severity overrides apply to all four. Defaults are quiet on a normal node.
import { z } from 'zod';
import { WATCHABLE_SYSCALLS, DEFAULT_WATCHED_SYSCALLS } from '../core/syscalls';

export const SECURITY_SIGNAL_DETECTIONS = ['seccomp', 'lsm', 'policy_drop', 'apiserver_contact'] as const;
export const SECURITY_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;

const nonEmpty = z.string().min(1);

export const securitySignalsConfigSchema = z.object({
  seccomp: z.object({
    enabled: z.boolean().default(true),
    /** Syscalls whose ERRNO denials are reported (one tracepoint pair each: keep the list short). */
    watchedSyscalls: z.array(z.enum(WATCHABLE_SYSCALLS)).max(WATCHABLE_SYSCALLS.length).default([...DEFAULT_WATCHED_SYSCALLS]),
  }).strict().prefault({}),
  lsm: z.object({
    /** AppArmor, SELinux and Landlock denials (and seccomp audit records) from the read-only audit multicast group. */
    enabled: z.boolean().default(true),
    /** How long records of one audit event (same serial) are gathered before the event is decided, ms. */
    groupWaitMs: z.number().int().min(10).max(5000).default(200),
  }).strict().prefault({}),
  policyDrops: z.object({
    enabled: z.boolean().default(true),
  }).strict().prefault({}),
  apiServerContact: z.object({
    enabled: z.boolean().default(true),
    /** Extra API server addresses (IP, or IP:port). The `kubernetes.default` Service and its endpoints, as the
     *  identity layer knows them, and $KUBERNETES_SERVICE_HOST are always included. */
    addresses: z.array(nonEmpty).default([]),
    /** Namespaces whose pods talk to the API server for a living (controllers, CNI, DNS). */
    allowNamespaces: z.array(nonEmpty).default(['kube-system']),
  }).strict().prefault({}),
  /** Events matching any entry are not reported (counted as allowlisted). */
  allow: z.object({
    /** Executable paths or names (`/usr/bin/runc`, `runc`). */
    executables: z.array(nonEmpty).default([]),
    namespaces: z.array(nonEmpty).default([]),
    /** Container image names, exact or a prefix ending in `*`. */
    images: z.array(nonEmpty).default([]),
    /** Workloads as `<namespace>/<name>` (the Deployment, DaemonSet, ... from identity). */
    workloads: z.array(z.string().regex(/^[^/]+\/[^/]+$/, 'must be <namespace>/<workload name>')).default([]),
  }).strict().prefault({}),
  /** Severity per detection, replacing the built-in one. */
  severity: z.partialRecord(z.enum(SECURITY_SIGNAL_DETECTIONS), z.enum(SECURITY_SEVERITIES)).default({}),
}).strict().prefault({});

export type SecuritySignalsConfig = z.infer<typeof securitySignalsConfigSchema>;
