// Config of the agent's own observability: /metrics, /healthz, /readyz, /status (src/observe). Owned by the observe
// work.
import { z } from 'zod';

/** host:port, [v6]:port or a unix socket path. Loopback by default: the agent's state is not for the network. */
const addressSchema = z.string().refine(
  (a) => a.startsWith('/') || /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(a),
  'must be host:port, [ipv6]:port or an absolute unix socket path');

export const observeConfigSchema = z.object({
  enabled: z.boolean().default(true),
  /** Where /metrics, /healthz, /readyz and /status are served. */
  address: addressSchema.default('127.0.0.1:9464'),
  /** Collect the kernel's per-program run time and count (costs ~20 ns per program run). */
  programRunStats: z.boolean().default(true),
  /** Least time between two walks of the BPF maps for fill metrics, ms (a walk is one syscall per entry). */
  mapFillIntervalMs: z.number().int().min(1000).max(3_600_000).default(30_000),
  /** Listen beyond loopback (e.g. 0.0.0.0:9464); refused unless set. Pair it with bearerTokenFile and/or tls. */
  allowRemote: z.boolean().default(false),
  /** File holding a token every request but /healthz must send as `Authorization: Bearer <token>`. */
  bearerTokenFile: z.string().min(1).optional(),
  /** Serve HTTPS with this PEM certificate and key. */
  tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
  /** Most connections open at once to the observe server. */
  maxConnections: z.number().int().min(1).max(100_000).default(64),
}).strict().prefault({});

export type ObserveConfig = z.infer<typeof observeConfigSchema>;
