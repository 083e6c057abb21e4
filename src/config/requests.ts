// Config of request-level capture (HTTP/1.1, HTTP/2, gRPC on the wire): docs/requests.md explains each bound.
import { z } from 'zod';
import { tlsConfigSchema } from './tls';

export const requestsConfigSchema = z.object({
  /** Capture request payloads (costs CPU on busy nodes: see docs/requests.md). */
  enabled: z.boolean().default(false),
  /** `auto`: socket-length tracepoints where the kernel has them, else every syscall's exit; `syscalls`: always the
   *  latter (for kernels where the first misbehaves, and for tests). */
  capture: z.enum(['auto', 'syscalls']).default('auto'),
  /** Bytes copied per syscall on HTTP/1 connections (headers; bodies are not parsed). */
  http1BytesPerSyscall: z.number().int().min(64).max(65536).default(4096),
  /** Bytes copied per syscall on HTTP/2 connections: header blocks must arrive whole (HPACK state), and Node
   *  coalesces many frames into 64 KiB reads (notes/l7.md); grpc-js with 64 calls of 1 KiB in flight makes syscalls
   *  of more than 64 KiB with HEADERS after DATA, which a 64 KiB bound cut off (docs/requests.md). */
  http2BytesPerSyscall: z.number().int().min(64).max(1_048_576).default(262_144),
  /** Past that bound, walk the HTTP/2 frames in the kernel (connections seen from their first byte): frame headers
   *  and every frame but DATA are still copied (at most 1 MiB more per syscall), DATA payload is passed over, so
   *  header blocks stay whole and HPACK exact whatever the syscall's size. Off: the rest is a counted gap. */
  http2FrameWalk: z.boolean().default(true),
  /** Payloads looked at before a connection that speaks nothing supported is skipped for good. */
  detectChunks: z.number().int().min(1).max(255).default(4),
  /** Connections tracked in the kernel (LRU). */
  connectionTableSize: z.number().int().min(128).max(1_000_000).default(65536),
  /** Connections with parser state in the agent (LRU; evictions counted). */
  sessionTableSize: z.number().int().min(16).max(1_000_000).default(16384),
  /** Header names whose values go on spans and events as http.request.header.<name> / http.response.header.<name>
   *  (after scrubbing: secret headers show [REDACTED]). None by default. */
  captureHeaders: z.array(z.string().min(1)).default([]),
  /** More header names whose values are always replaced (added to the built-in list: Authorization, Cookie,
   *  Set-Cookie, Proxy-Authorization, API-key and token headers). */
  secretHeaders: z.array(z.string().min(1)).default([]),
  /** The payload ring's size in bytes (a power of two). */
  ringBufferBytes: z.number().int().min(65536).max(1 << 30).default(16 << 20)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
  /** TLS plaintext from OpenSSL uprobes (src/config/tls.ts). */
  tls: tlsConfigSchema,
}).strict().prefault({});

export type RequestsConfig = z.infer<typeof requestsConfigSchema>;
