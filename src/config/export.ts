// Config of OTLP export and the disk spool (src/export). Owned by the export work.
import { z } from 'zod';

export const exportConfigSchema = z.object({
  otlp: z.object({
    enabled: z.boolean().default(false),
  }).prefault({}),
}).prefault({});
