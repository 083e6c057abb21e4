// Config of self-protection: budgets, rate limits, sampling, cardinality (src/pipeline). Owned by the limits work.
import { z } from 'zod';

export const limitsConfigSchema = z.object({
}).prefault({});
