// BpfMap: typed access to one BPF map by fd (arrays, per-CPU arrays, hashes, LRU hashes). Keys and values are
// Buffers in the map's own layout; per-CPU maps return one value per possible CPU.
import { native } from './native';

const PER_CPU_TYPES = new Set(['percpu_array', 'percpu_hash', 'lru_percpu_hash', 'percpu_cgroup_storage']);

export const MapUpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

export class BpfMap {
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly perCpu: boolean;
  private readonly cpus: number;
  /** Per-CPU values are rounded up to 8 bytes each in the kernel's copy-out. */
  private readonly perCpuStride: number;
  /** forEachU64's batch lookup writes into these once it made them. */
  private batchBuffers: { keys: Buffer; values: Buffer } | undefined;

  constructor(readonly name: string, readonly fd: number) {
    const n = native();
    const info = n.mapInfo(fd);
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.perCpu = PER_CPU_TYPES.has(info.type);
    this.cpus = this.perCpu ? n.numPossibleCpus() : 1;
    this.perCpuStride = (this.valueSize + 7) & ~7;
  }

  private checkKey(key: Buffer): void {
    if (key.length !== this.keySize) {
      throw new RangeError(`map ${this.name}: key is ${key.length} bytes, the map wants ${this.keySize}`);
    }
  }

  /** Bytes of one value as the kernel copies it (per-CPU maps: every CPU's slot). */
  get valueBytes(): number {
    return this.perCpu ? this.perCpuStride * this.cpus : this.valueSize;
  }

  /** The value (for per-CPU maps: all CPUs' values concatenated, use perCpuValues), or undefined. */
  lookup(key: Buffer): Buffer | undefined {
    this.checkKey(key);
    return native().mapLookup(this.fd, key) ?? undefined;
  }

  /** One Buffer per possible CPU. */
  perCpuValues(key: Buffer): Buffer[] | undefined {
    if (!this.perCpu) throw new Error(`map ${this.name} (${this.type}) is not per-CPU`);
    const all = this.lookup(key);
    if (!all) return undefined;
    const out: Buffer[] = [];
    for (let c = 0; c < this.cpus; c++) out.push(all.subarray(c * this.perCpuStride, c * this.perCpuStride + this.valueSize));
    return out;
  }

  /** Sum of a u64 counter across CPUs (per-CPU maps) or the u64 value itself. */
  sumU64(key: Buffer): bigint {
    if (this.perCpu) {
      return (this.perCpuValues(key) ?? []).reduce((s, b) => s + b.readBigUInt64LE(0), 0n);
    }
    const v = this.lookup(key);
    return v ? v.readBigUInt64LE(0) : 0n;
  }

  /**
   * Every entry in one syscall where the kernel supports batch lookups (arrays, hashes), else entry by entry.
   * For per-CPU maps each value holds all CPUs' values (use perCpuSlices to split).
   */
  lookupAll(): { key: Buffer; value: Buffer }[] {
    const bytes = this.valueBytes;
    const r = native().mapLookupBatch(this.fd);
    if (!r) return [...this.entries()].map(([key, value]) => ({ key, value }));
    const out: { key: Buffer; value: Buffer }[] = [];
    for (let i = 0; i < r.count; i++) {
      out.push({ key: r.keys.subarray(i * this.keySize, (i + 1) * this.keySize), value: r.values.subarray(i * bytes, (i + 1) * bytes) });
    }
    return out;
  }

  /**
   * Every entry of a map with u32 keys and u64 values, the value summed across CPUs (per-CPU maps), as numbers: one
   * batch lookup and no object per entry. The agent reads every object's drop slots (512 each) once a second; an
   * object, two Buffer views and a BigInt per slot were ~1 MB/s of garbage, a young-generation collection (and
   * its helper threads' wake-ups) every second on an idle agent.
   */
  forEachU64(visit: (key: number, sum: number) => void): void {
    // The same two Buffers every time: new ones each second were ~10 KB of C heap per object a second, freed only
    // when V8 collected their handles (which this no longer makes it do).
    const r = native().mapLookupBatch(this.fd, undefined, this.batchBuffers);
    if (!r) {
      for (const [key, value] of this.entries()) visit(key.readUInt32LE(0), Number(this.perCpu ? this.sumPerCpuU64(value) : value.readBigUInt64LE(0)));
      return;
    }
    this.batchBuffers = { keys: r.keys, values: r.values };
    const bytes = this.valueBytes;
    const slots = this.perCpu ? this.cpus : 1;
    const { keys, values } = r;
    for (let i = 0; i < r.count; i++) {
      let sum = 0;
      for (let c = 0, at = i * bytes; c < slots; c++, at += this.perCpuStride) {
        sum += values.readUInt32LE(at) + values.readUInt32LE(at + 4) * 0x1_0000_0000;
      }
      visit(keys.readUInt32LE(i * this.keySize), sum);
    }
  }

  /** Sum of u64 values across CPUs, for one value as returned by lookup/lookupAll on a per-CPU map. */
  sumPerCpuU64(all: Buffer): bigint {
    let sum = 0n;
    for (let c = 0; c < this.cpus; c++) sum += all.readBigUInt64LE(c * this.perCpuStride);
    return sum;
  }

  /** value: the map's value size, or for per-CPU maps either one value (written to every CPU) or all slots. */
  update(key: Buffer, value: Buffer, flags: number = MapUpdateFlags.ANY): void {
    this.checkKey(key);
    if (value.length !== this.valueSize && value.length !== this.valueBytes) {
      throw new RangeError(`map ${this.name}: value is ${value.length} bytes, the map wants ${this.valueSize}` +
        (this.perCpu ? ` (or ${this.valueBytes}: one ${this.perCpuStride}-byte slot per possible CPU)` : ''));
    }
    if (this.perCpu && value.length === this.valueSize && value.length !== this.valueBytes) {
      // Same value on every CPU: the kernel wants one slot per possible CPU.
      const all = Buffer.alloc(this.perCpuStride * this.cpus);
      for (let c = 0; c < this.cpus; c++) value.copy(all, c * this.perCpuStride);
      value = all;
    }
    native().mapUpdate(this.fd, key, value, flags);
  }

  delete(key: Buffer): boolean {
    this.checkKey(key);
    return native().mapDelete(this.fd, key);
  }

  *keys(): Generator<Buffer> {
    const n = native();
    let key: Buffer | null = null;
    // Bounded: a hash map being modified while we walk can restart iteration; never walk more than 2x its size.
    for (let i = 0; i < this.maxEntries * 2 + 1; i++) {
      key = n.mapNextKey(this.fd, key);
      if (!key) return;
      yield key;
    }
  }

  *entries(): Generator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  /** Entries in use (walks the map: for status and metrics, not hot paths). */
  count(): number {
    let n = 0;
    for (const _ of this.keys()) n++;
    return n;
  }
}

/** A u32 key, the common case for array maps. */
export function u32Key(i: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(i >>> 0);
  return b;
}
