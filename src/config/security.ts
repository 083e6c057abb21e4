// Config of the security collector (collectors.security): detections on/off with severity and scope overrides, the
// sensitive path rules matched in the kernel, shell names, and allowlists. Defaults are quiet on a normal node:
// package installs, builds, web servers and operator shells on the host, container starts and stops and the agent
// itself give no alert (docs/security.md says what each default is for).
import { z } from 'zod';

/** Every detection by name (the catalog with severities and techniques is src/collectors/security/detections.ts;
 *  a test keeps the two lists equal). */
export const DETECTION_NAMES = ['namespace.escape', 'namespace.enter', 'namespace.change', 'host.mount', 'host.chroot',
  'host.escape_lever', 'host.module_load', 'host.bpf_load', 'host.runtime_socket', 'privilege.setuid_exec',
  'privilege.cred_change', 'privilege.ptrace', 'privilege.userns', 'privilege.setuid_bit', 'file.credential_read',
  'file.system_write', 'file.link', 'exec.fileless', 'exec.dropped_binary', 'exec.temp_dir', 'exec.interactive_shell',
  'exec.reverse_shell'] as const;

const detectionName = z.enum(DETECTION_NAMES);
const severity = z.enum(['low', 'medium', 'high', 'critical']);

export const PATH_RULE_DETECTIONS = ['file.credential_read', 'file.system_write', 'host.escape_lever', 'exec.temp_dir', 'host.runtime_socket'] as const;

const pathRule = z.object({
  /** Absolute path prefix, or an ending (`/.ssh/id_rsa`); at most 63 bytes. */
  path: z.string().min(1).max(63).refine((p) => !p.includes('\0'), 'must not contain NUL'),
  match: z.enum(['prefix', 'suffix']).default('prefix'),
  /** What use of the path counts: read/write opens, exec of a file there, connect to a unix socket there. */
  access: z.array(z.enum(['read', 'write', 'exec', 'connect'])).min(1),
  /** The detection a hit reports. */
  detection: z.enum(PATH_RULE_DETECTIONS),
  /** ATT&CK technique for this path, when it differs from the detection's. */
  technique: z.string().regex(/^T\d{4}(\.\d{3})?$/, 'an ATT&CK technique id like T1552.001').optional(),
  /** Also for processes in the host namespaces (default: containerised processes only). */
  host: z.boolean().default(false),
}).strict();

export type PathRuleConfig = z.infer<typeof pathRule>;

const r = (path: string, match: 'prefix' | 'suffix', access: PathRuleConfig['access'], detection: PathRuleConfig['detection'], technique?: string): PathRuleConfig =>
  ({ path, match, access, detection, host: false, ...(technique ? { technique } : {}) });

/** First match wins, in this order: the kernel walks the list and stops at the first rule that fits. */
export const DEFAULT_PATH_RULES: PathRuleConfig[] = [
  r('/proc/sys/kernel/core_pattern', 'prefix', ['write'], 'host.escape_lever'),
  r('/proc/sysrq-trigger', 'prefix', ['write'], 'host.escape_lever'),
  r('/release_agent', 'suffix', ['write'], 'host.escape_lever'),
  r('/notify_on_release', 'suffix', ['write'], 'host.escape_lever'),
  r('/etc/shadow', 'prefix', ['read'], 'file.credential_read'),
  r('/etc/gshadow', 'prefix', ['read'], 'file.credential_read'),
  r('/etc/sudoers', 'prefix', ['read'], 'file.credential_read'),
  r('/etc/ssh/ssh_host_', 'prefix', ['read'], 'file.credential_read'),
  r('/.ssh/id_rsa', 'suffix', ['read'], 'file.credential_read'),
  r('/.ssh/id_ecdsa', 'suffix', ['read'], 'file.credential_read'),
  r('/.ssh/id_ed25519', 'suffix', ['read'], 'file.credential_read'),
  r('/run/secrets/kubernetes.io/serviceaccount/', 'prefix', ['read'], 'file.credential_read', 'T1528'),
  r('/var/run/secrets/kubernetes.io/serviceaccount/', 'prefix', ['read'], 'file.credential_read', 'T1528'),
  r('/var/lib/kubelet/pki/', 'prefix', ['read'], 'file.credential_read'),
  r('/var/lib/kubelet/kubeconfig', 'prefix', ['read'], 'file.credential_read'),
  r('/etc/kubernetes/', 'prefix', ['read'], 'file.credential_read'),
  r('/.aws/credentials', 'suffix', ['read'], 'file.credential_read'),
  r('/.kube/config', 'suffix', ['read'], 'file.credential_read'),
  r('/.docker/config.json', 'suffix', ['read'], 'file.credential_read'),
  r('/application_default_credentials.json', 'suffix', ['read'], 'file.credential_read'),
  r('/.ssh/authorized_keys', 'suffix', ['write'], 'file.system_write', 'T1098.004'),
  r('/etc/', 'prefix', ['write'], 'file.system_write'),
  r('/bin/', 'prefix', ['write'], 'file.system_write'),
  r('/sbin/', 'prefix', ['write'], 'file.system_write'),
  r('/usr/bin/', 'prefix', ['write'], 'file.system_write'),
  r('/usr/sbin/', 'prefix', ['write'], 'file.system_write'),
  r('/usr/local/bin/', 'prefix', ['write'], 'file.system_write'),
  r('/lib', 'prefix', ['write'], 'file.system_write'),
  r('/usr/lib', 'prefix', ['write'], 'file.system_write'),
  r('/tmp/', 'prefix', ['exec'], 'exec.temp_dir'),
  r('/dev/shm/', 'prefix', ['exec'], 'exec.temp_dir'),
  r('/var/tmp/', 'prefix', ['exec'], 'exec.temp_dir'),
  r('/docker.sock', 'suffix', ['connect'], 'host.runtime_socket'),
  r('/containerd.sock', 'suffix', ['connect'], 'host.runtime_socket'),
  r('/crio.sock', 'suffix', ['connect'], 'host.runtime_socket'),
  r('/podman.sock', 'suffix', ['connect'], 'host.runtime_socket'),
  r('/cri-dockerd.sock', 'suffix', ['connect'], 'host.runtime_socket'),
];

export const MAX_PATH_RULES = 64;

const allowRule = z.object({
  /** Detections this entry silences (default: all). */
  detections: z.array(detectionName).optional(),
  /** Globs (`*`) matched against the executable path and its file name (not the comm, which a process can set). */
  executables: z.array(z.string().min(1)).optional(),
  /** Kubernetes namespaces (`k8s.namespace.name`). */
  namespaces: z.array(z.string().min(1)).optional(),
  /** Workload names (`k8s.deployment.name`, `k8s.daemonset.name`, ... or `k8s.pod.name`). */
  workloads: z.array(z.string().min(1)).optional(),
  /** Globs matched against `container.image.name`. */
  images: z.array(z.string().min(1)).optional(),
  /** Where the process runs: only on the host, only in containers, or anywhere (default). */
  where: z.enum(['host', 'containers', 'any']).default('any'),
}).strict().refine((a) => a.executables || a.namespaces || a.workloads || a.images || a.detections,
  'an allow entry needs at least one of executables, namespaces, workloads, images, detections');

export type AllowRuleConfig = z.infer<typeof allowRule>;

/** The container runtimes doing their job: namespaces, mounts and pivot_root at every container start and exec. */
export const DEFAULT_ALLOW: AllowRuleConfig[] = [
  { executables: ['runc', '*runc_cloned*', 'crun', 'conmon', 'containerd-shim*', 'containerd', 'dockerd',
    'docker-init', 'podman', 'catatonit'], where: 'any' },
  /* systemd loads BPF programs for its units' cgroups. */
  { detections: ['host.bpf_load'], executables: ['systemd'], where: 'host' },
];

export const DEFAULT_SHELLS = ['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'fish', 'csh', 'tcsh'];

const detectionSettings = z.object({
  enabled: z.boolean().optional(),
  severity: severity.optional(),
  /** containers: only containerised processes; all: every process on the node. */
  scope: z.enum(['containers', 'all']).optional(),
}).strict();

export const securityConfigSchema = z.object({
  enabled: z.boolean().default(true),
  /** Kernel ring buffer for security records, bytes (a power of two); security events are rare. */
  ringBufferBytes: z.number().int().min(4096).max(1 << 28).default(1 << 20)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
  /** Per-detection overrides, keyed by name (`file.credential_read`, ...). */
  detections: z.partialRecord(detectionName, detectionSettings).default({}),
  /** The sensitive path rules (replaces the defaults); `extraPaths` adds to them instead. */
  paths: z.array(pathRule).max(MAX_PATH_RULES).default(DEFAULT_PATH_RULES),
  extraPaths: z.array(pathRule).max(MAX_PATH_RULES).default([]),
  /** Process names (comm) that are shells, for the interactive- and reverse-shell detections. */
  shells: z.array(z.string().min(1).max(15)).max(64).default(DEFAULT_SHELLS),
  /** Allowlist (replaces the defaults); `extraAllow` adds to it instead. */
  allow: z.array(allowRule).default(DEFAULT_ALLOW),
  extraAllow: z.array(allowRule).default([]),
  /** Take the host's namespaces from this pid instead of the agent's own (an agent in its own mount namespace). */
  hostNamespacesFromPid: z.number().int().min(1).optional(),
}).strict().refine((c) => c.paths.length + c.extraPaths.length <= MAX_PATH_RULES,
  { message: `at most ${MAX_PATH_RULES} path rules in paths and extraPaths together`, path: ['extraPaths'] }).prefault({});

export type SecurityConfig = z.infer<typeof securityConfigSchema>;
