// Config of the agent's own observability: /metrics, /healthz, /readyz (src/observe). Owned by the observe work.
import { z } from 'zod';

export const observeConfigSchema = z.object({
}).prefault({});
