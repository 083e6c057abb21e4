// The typed face of the native addon (native/): libbpf mechanism only. Everything with policy (fallbacks, retries,
// drop accounting) lives in the other files of src/kernel.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ProgramDescription {
  name: string;
  section: string;
  type: string;
  attachType: string;
  autoload: boolean;
  fd: number;
}

export interface MapDescription {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  fd: number;
}

export interface LoadOutcome {
  ok: boolean;
  error?: string;
  errno?: number;
  /** Everything libbpf printed during the load, verifier log included. */
  log: string;
}

export interface AttachOutcome {
  ok: boolean;
  /** libbpf's and the kernel's words, e.g. "attach x: No such file or directory (errno 2)\nlibbpf: ...". */
  error?: string;
  errno?: number;
}

export interface NativeBpfObject {
  programs(): ProgramDescription[];
  maps(): MapDescription[];
  setAutoload(program: string, on: boolean): void;
  setMapMaxEntries(map: string, n: number): void;
  /** Before load: change a map's type and sizes (a ring buffer map becomes a perf event array). */
  setMapShape(map: string, shape: { type: string; keySize: number; valueSize: number; maxEntries: number }): void;
  /** Sets a `const volatile` global in .rodata before load; throws when there is none by that name or the size differs. */
  setRodata(name: string, value: Buffer): void;
  /** Before load: use another loaded object's map (by fd) instead of creating this one; sizes must agree. */
  reuseMap(name: string, fd: number): void;
  load(): LoadOutcome;
  attach(program: string): AttachOutcome;
  /** `linkKey` names the link (default: the program), so one program can attach to many files; detach(linkKey).
   *  An empty functionName probes the file offset `offset` (a function the file does not export). */
  attachUprobe(program: string, o: { binaryPath: string; functionName: string; offset?: number; pid?: number; retprobe?: boolean; linkKey?: string; cookie?: number }): AttachOutcome;
  attachCgroup(program: string, cgroupPath: string): AttachOutcome;
  attachTc(program: string, o: { ifname: string; ingress?: boolean }): AttachOutcome;
  detach(program: string): boolean;
  /** Detaches links off the JS thread (a uprobe's detach waits ~100 ms for the kernel): they leave the object at
   *  once; resolves with how many the kernel let go. */
  detachInBackground(linkKeys: string[]): Promise<number>;
  /** Every program stops running; maps stay readable until close(). */
  detachAll(): void;
  mapFd(map: string): number;
  programFd(program: string): number;
  close(): void;
}

export interface RingReaderStats {
  /** Where records come from: the BPF ring buffer, or perf buffers (one per CPU) on kernels without it. */
  transport: 'ringbuf' | 'perf';
  records: number;
  bytes: number;
  batches: number;
  callbacks: number;
  /** Time the reader thread spent waiting for JS to take batches (the kernel ring was filling meanwhile). */
  stalledMs: number;
  /** Naps while a batch coalesced (the reader's wake-ups beyond the first record of each batch). */
  sleeps: number;
  pollErrors: number;
  /** Perf only: records the kernel reported lost. The BPF side counts each of them as a drop (by kind) already. */
  lostSamples: number;
  /** Records still queued when the callback threw during stop(): not delivered, counted here. */
  abandoned: number;
  queueHighWater: number;
  queueDepth: number;
  running: boolean;
}

export interface RingReaderOptions {
  /** How long a batch gathers records before JS gets it. */
  coalesceMs?: number;
  /** How long a batch of fewer than `coalesceRecords` may gather (default: coalesceMs): a slow stream then wakes
   *  JS once per maxCoalesceMs instead of once per coalesceMs. */
  maxCoalesceMs?: number;
  /** The batch size (records) that ends the longer wait (default 1024). */
  coalesceRecords?: number;
  batchRecords?: number;
  batchBytes?: number;
  /** Batches waiting for JS before the reader stops draining the kernel ring. */
  queueBatches?: number;
  /** 'perf' when mapFd is a perf event array (kernels without ring buffers); default 'ringbuf'. */
  transport?: 'ringbuf' | 'perf';
  /** Perf only: pages of each CPU's buffer (a power of two). */
  perfPagesPerCpu?: number;
}

export interface NativeRingReader {
  stop(): RingReaderStats;
  stats(): RingReaderStats;
  /** After `afterDelivery`: the event loop had its turn; deliver again when batches wait. */
  resume(): void;
}

export interface ProgramRunInfo {
  id: number;
  name: string;
  type: string;
  runTimeNs: number;
  runCount: number;
  recursionMisses: number;
  verifiedInstructions: number;
}

export interface ProbeOutcome {
  ok: boolean;
  error?: string;
}

export interface NativeAddon {
  /** btfPath: an external BTF file for CO-RE relocation (kernels without /sys/kernel/btf/vmlinux). */
  BpfObject: new (elf: Buffer, name: string, options?: { btfPath?: string }) => NativeBpfObject;
  RingReader: new (mapFd: number, options: RingReaderOptions,
    onBatch: (batch: ArrayBuffer, count: number) => void, afterDelivery?: () => void) => NativeRingReader;
  mapInfo(fd: number): { type: string; name: string; keySize: number; valueSize: number; maxEntries: number; id: number; flags: number };
  // The map calls take key and value sizes from the map itself (fd from BpfObject.mapFd) and throw a RangeError
  // naming the map and both sizes for a Buffer of any other size. Per-CPU values: one 8-byte aligned slot per CPU.
  mapLookup(fd: number, key: Buffer): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  /** With `into` (at least the map's size, e.g. a previous call's Buffers), the entries are written there. */
  mapLookupBatch(fd: number, maxEntries?: number, into?: { keys: Buffer; values: Buffer }): { keys: Buffer; values: Buffer; count: number; keySize: number; valueBytes: number } | null;
  mapNextKey(fd: number, key: Buffer | null): Buffer | null;
  programInfo(fd: number): ProgramRunInfo;
  enableRunStats(): number;
  /** Closes an fd the addon handed out to be closed (enableRunStats); throws for any other fd. */
  closeFd(fd: number): void;
  numPossibleCpus(): number;
  probeProgramType(type: string): ProbeOutcome;
  probeMapType(type: string): ProbeOutcome;
  libbpfVersion(): string;
  /** CLOCK_REALTIME between two CLOCK_BOOTTIME reads (the midpoint), the closest of a few tries. */
  clockPair(): { realtimeNs: bigint; boottimeNs: bigint; gapNs: number };
  boottimeNs(): bigint;
  /** sysconf(_SC_CLK_TCK): the unit of /proc/<pid>/stat times. */
  clockTicksPerSecond(): number;
  /** malloc_trim(0): the C heap's freed pages back to the kernel (libbpf frees the parsed kernel BTF after each
   *  load); true when some went back. */
  releaseFreedHeap(): boolean;
  /** Detach a typed array's ArrayBuffer (a view over all of it), freeing its memory now; false when left alone. */
  releaseBuffer(view: Uint8Array): boolean;
}

const ROOT = path.join(__dirname, '..', '..', '..');

/** The build for this process's architecture: `<dir>-<arch>` when a cross build made one (`npm run build:arm64`
 *  writes bpf/.output-arm64 and native/build-arm64), else `<dir>`, the build `npm run setup` made for the host. */
export function archBuildDir(dir: string, arch: string = process.arch): string {
  const own = `${dir}-${arch}`;
  return fs.existsSync(own) ? own : dir;
}

const ADDON_PATH = path.join(archBuildDir(path.join(ROOT, 'native', 'build')), 'Release', 'tapio_native.node');
let addon: NativeAddon | undefined;

/** Loads the addon once; the error says how to build it when it is missing. */
export function native(): NativeAddon {
  if (!addon) {
    try {
       
      addon = require(ADDON_PATH) as NativeAddon;
    } catch (e) {
      throw new Error(`cannot load the native addon at ${ADDON_PATH}: ${(e as Error).message}\n` +
        'Build it with `npm run setup` (needs libbpf-dev, libelf-dev and g++).');
    }
  }
  return addon;
}

/** Where compiled BPF objects live (bpf/.output, or bpf/.output-<arch> from a cross build). */
export const BPF_OBJECT_DIR = archBuildDir(path.join(ROOT, 'bpf', '.output'));
