// Config of TLS plaintext capture (OpenSSL uprobes), part of request capture: docs/requests.md ("TLS") explains it.
import { z } from 'zod';

export const tlsConfigSchema = z.object({
  /** Attach uprobes to every OpenSSL library and every binary exporting SSL_* (node) that running processes map,
   *  so HTTPS, HTTP/2 over TLS and gRPC over TLS are decoded like plaintext. Needs `collectors.requests.enabled`. */
  enabled: z.boolean().default(true),
  /** Plaintext bytes copied per SSL_read/SSL_write call (more is a counted gap). */
  bytesPerCall: z.number().int().min(64).max(65536).default(65536),
  /** How often /proc/<pid>/maps of every process is read again to find libraries of new processes (and dlopen). */
  rescanIntervalMs: z.number().int().min(200).max(600_000).default(2000),
  /** Distinct files (by device and inode) with uprobes attached at once; more are counted and skipped. */
  maxFiles: z.number().int().min(1).max(4096).default(64),
  /** An SSL_read with no socket I/O inside it is mapped to the thread's last socket read if it was this recent
   *  (Node reads ciphertext into a memory BIO just before SSL_read). */
  adjacentReadUs: z.number().int().min(0).max(1_000_000).default(20_000),
  /** Where a library's SSL_write/SSL_read pair forwards to one internal function (Debian's libssl.so.3), probe that
   *  function once instead of both exported names: on x86-64 their first instruction makes every probe hit
   *  single-step (~16 us per SSL call on a VM), the internal one's is emulated (~0.5 us). Off: the exported names. */
  sharedEntryPoints: z.boolean().default(true),
  /** SSL objects tracked in the kernel (LRU). */
  sslTableSize: z.number().int().min(128).max(1_000_000).default(65536),
  /** The plaintext ring's size in bytes (a power of two). */
  ringBufferBytes: z.number().int().min(65536).max(1 << 30).default(8 << 20)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
}).strict().prefault({});

export type TlsConfig = z.infer<typeof tlsConfigSchema>;
