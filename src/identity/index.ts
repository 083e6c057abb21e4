// src/identity: who caused an event. A kernel cgroup id (and optionally a pid) becomes OpenTelemetry attributes:
// container.* from the cgroup path and the container runtimes (runtimes/), k8s.* from Kubernetes (kubernetes/).
// The resolver (resolver.ts) is what the agent calls per event.
export { IdentityResolver, type IdentityResolverOptions, type IdentityStats } from './resolver';
export { CgroupPathResolver } from './cgroups/resolver';
export { parseCgroupPath } from './cgroups/path-parser';
export { detectHostCgroupLayout } from './cgroups/layout';
export { RuntimeManager, DEFAULT_ENDPOINTS } from './runtimes/manager';
export type { CgroupIdentity, ContainerInfo, KubernetesMetadata, PodInfo, RuntimeName } from './types';
