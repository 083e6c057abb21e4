// Config of container, pod and workload attribution (src/identity). Owned by the identity work.
import { z } from 'zod';

export const identityConfigSchema = z.object({
  enabled: z.boolean().default(true),
}).prefault({});
