// The whole configuration, composed of one section per part of the agent. Each section's schema lives beside this
// file; defaults make an empty config file (or none) a working one.
import { z } from 'zod';
import { collectorsConfigSchema, kernelConfigSchema } from './collectors';
import { identityConfigSchema } from './identity';
import { exportConfigSchema } from './export';
import { limitsConfigSchema } from './limits';
import { observeConfigSchema } from './observe';
import { securitySignalsConfigSchema } from './security-signals';

export const configSchema = z.object({
  node: z.object({
    /** Kubernetes node name; defaults to $NODE_NAME, then the hostname. */
    name: z.string().min(1).optional(),
  }).strict().prefault({}),
  cluster: z.object({
    name: z.string().min(1).optional(),
  }).strict().prefault({}),
  kernel: kernelConfigSchema,
  collectors: collectorsConfigSchema,
  identity: identityConfigSchema,
  export: exportConfigSchema,
  limits: limitsConfigSchema,
  observe: observeConfigSchema,
  securitySignals: securitySignalsConfigSchema,
}).strict();

export type TapioConfig = z.infer<typeof configSchema>;
