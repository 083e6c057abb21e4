// src/observe: the agent's own observability: Prometheus /metrics, /healthz, /readyz and the /status document that
// `tapio status` prints. The agent passes in what to report (ObserveSources); nothing here reaches into it.
export { startObserveServer, parseListenAddress } from './server';
export type { ObserveServer, ObserveServerOptions } from './server';
export { buildStatus, readiness, STATUS_VERSION } from './snapshot';
export type { ObserveStatus, ReadinessResult, CollectorReport } from './snapshot';
export { METRIC_NAMES, createMetrics } from './metrics';
export { KernelStats } from './kernel-stats';
export type { ProgramRow, MapRow, RingRow } from './kernel-stats';
export type { AgentLike, ExporterHealth, ObserveSources, ReadinessCheck } from './sources';
export { formatStatus } from './format';
