// src/kernel: everything that talks to the kernel's BPF subsystem. Collectors use loadCollector() and the
// LoadedCollector it returns; nothing outside this folder touches the native addon directly.
export { loadCollector, LoadedCollector, failedProgramFromLog, programLogExcerpt } from './loader';
export type { CollectorSpec, HookSpec, HookImplementation, HookKind, HookStatus, HookAttempt, LoaderOptions } from './loader';
export { BpfMap, MapUpdateFlags, u32Key } from './maps';
export { RingReader, RecordBatch } from './ring';
export type { BatchHandler } from './ring';
export type { RingReaderOptions, RingReaderStats, ProgramRunInfo } from './native';
export { bootNsToUnixNano, bootNowNs, clockTicksPerSecond } from './clock';
export { chooseTransport, ringBufferSupport } from './transport';
export type { Transport, TransportChoice, TransportDecision } from './transport';
export { readKernelDrops, kindName, reasonName, KERNEL_DROP_REASONS, KIND_NAMES } from './drops';
export type { KernelDropRow } from './drops';
export { ensureTracefs, tracefsMountPoint } from './tracefs';
