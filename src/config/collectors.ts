// Config of the kernel-facing side: which collectors run, capture bounds, ring buffer and reader tuning.
import { z } from 'zod';
import { securityConfigSchema } from './security';
import { requestsConfigSchema } from './requests';

export const collectorsConfigSchema = z.object({
  process: z.object({
    enabled: z.boolean().default(true),
    /* Fork sampling: limits.sampling['process.fork'] (forkSampleEvery is a deprecated alias, src/config/deprecated.ts). */
    argvMaxCount: z.number().int().min(1).max(64).default(16),
    argvMaxBytes: z.number().int().min(16).max(4096).default(1024),
    processTableSize: z.number().int().min(128).max(1_000_000).default(32768),
  }).strict().prefault({}),
  network: z.object({
    enabled: z.boolean().default(true),
    connectionTableSize: z.number().int().min(128).max(1_000_000).default(65536),
  }).strict().prefault({}),
  security: securityConfigSchema,
  requests: requestsConfigSchema,
}).strict().prefault({});

export const kernelConfigSchema = z.object({
  /** Kernel ring buffer size per collector, bytes (a power of two, at least one page). */
  ringBufferBytes: z.number().int().min(4096).max(1 << 30).default(8 << 20)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
  /** How long a batch of records gathers before it reaches JS, milliseconds. */
  coalesceMs: z.number().int().min(1).max(10).default(5),
  /** How long a small batch (under ~1000 records) may gather, milliseconds: a slow stream then costs a few
   *  wake-ups a second instead of one per coalesceMs. Unset: a quarter of export.otlp.batch.delayMs (at most 50)
   *  while OTLP export is on, since records wait for their export batch anyway; else coalesceMs. */
  maxCoalesceMs: z.number().int().min(1).max(1000).optional(),
  /** Most records in one batch handed to JS. */
  batchRecords: z.number().int().min(1).max(1_000_000).default(8192),
  /** Batches waiting for JS before the reader stops draining the kernel ring (which then counts drops). */
  queueBatches: z.number().int().min(1).max(1024).default(16),
  /** How records leave the kernel: 'auto' takes the BPF ring buffer where the kernel has one (5.8+), else perf
   *  buffers (one per CPU, ringBufferBytes shared out over them); 'ringbuf' or 'perf' force one. */
  transport: z.enum(['auto', 'ringbuf', 'perf']).default('auto'),
  /** A BTF file describing this exact kernel (BTFHub-style), for CO-RE relocation on kernels without
   *  /sys/kernel/btf/vmlinux. */
  btfPath: z.string().min(1).optional(),
}).strict().prefault({});
