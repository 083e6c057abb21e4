// Config of TLS plaintext capture (OpenSSL uprobes), part of request capture: docs/requests.md ("TLS") explains it.
import { z } from 'zod';

export const tlsConfigSchema = z.object({
  /** Attach uprobes to every OpenSSL library and every binary exporting SSL_* (node) that running processes map,
   *  so HTTPS, HTTP/2 over TLS and gRPC over TLS are decoded like plaintext. Needs `collectors.requests.enabled`. */
  enabled: z.boolean().default(true),
  /** Plaintext bytes copied per SSL_read/SSL_write call (more is a counted gap). */
  bytesPerCall: z.number().int().min(64).max(65536).default(65536),
  /** How often processes are scanned for libraries: new processes and ones that exec'd are read at once (their
   *  /proc/<pid>/maps), every process again each 15th scan (a dlopen outside the library directories). */
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
  /** The most of the node's CPU the probes may cost the processes they trap, in percent. Every SSL call of a probed
   *  process takes a breakpoint trap on entry and on return, captured or sampled out alike, paid by that process:
   *  sampling cannot lower it. Above this, the probes are attached only part of the time (a duty cycle: attached for
   *  `probeWindowMs`, measuring the calls' rate, then paused as long as it takes to average under the bound; counted
   *  as tls_probe_*). 100: never paused. */
  maxProbeCostPercent: z.number().min(0.01).max(100).default(1),
  /** What one probed SSL call costs the processes, ns (both traps and our programs): on the 2-core VM it was built on,
   *  11-12.5 µs under real load (wrk -> Node https, h2load -> nghttpd: the CPU per request added with the probes
   *  always attached, per probe hit; `bench/tls-overhead.ts`), 2.1-3.4 µs in a tight single-process loop. Less on
   *  bare metal. */
  probeCostNs: z.number().int().min(1).max(1_000_000).default(12_000),
  /** How long the probes stay attached, measuring the rate of SSL calls, before a pause is decided. */
  probeWindowMs: z.number().int().min(200).max(600_000).default(1000),
  /** The longest pause (so the probes measure again at least this often). */
  maxProbePauseMs: z.number().int().min(1000).max(3_600_000).default(60_000),
  /** SSL objects tracked in the kernel (LRU). */
  sslTableSize: z.number().int().min(128).max(1_000_000).default(65536),
  /** The plaintext ring's size in bytes (a power of two). */
  ringBufferBytes: z.number().int().min(65536).max(1 << 30).default(8 << 20)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
}).strict().prefault({});

export type TlsConfig = z.infer<typeof tlsConfigSchema>;
