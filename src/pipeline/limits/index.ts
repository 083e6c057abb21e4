// src/pipeline/limits: self-protection. Kernel rate limits and sampling (KernelLimits over bpf/include/limits.h), the
// adaptive controller that keeps the agent inside its CPU and memory budget, and bounded (top-K) aggregation.
export { KernelLimits, kindLimitsFromConfig, kindNumber, encodeKindLimit, decodeKindLimit,
  LIMITS_CONFIG_MAP, LIMITS_STATE_MAP, LIMITS_COUNTERS_MAP } from './kernel-limits';
export type { KindLimit, CgroupLimitRow, BucketCounters } from './kernel-limits';
export { AdaptiveController } from './adaptive';
export type { AdaptiveOptions, AdaptiveDecision, AdaptiveState, ApplySampling } from './adaptive';
export { ProcessResources } from '../../core/resources';
export type { ResourceSample, ResourceSource } from '../../core/resources';
export { BoundedAggregator, TopK } from './top-k';
export type { TopKEntry, BoundedAggregatorOptions } from './top-k';
export { createLimits } from './setup';
export type { LimitsHandle } from './setup';
