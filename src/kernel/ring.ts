// Reading a BPF ring buffer: the native thread hands us batches; this wraps them for decoders and keeps the JS
// callback from ever throwing into native code.
import { native, type NativeRingReader, type RingReaderOptions, type RingReaderStats } from './native';

/** Many records in one ArrayBuffer: [u32 len][u32 pad][bytes][pad to 8] ... */
export class RecordBatch {
  constructor(readonly buffer: ArrayBuffer, readonly count: number) {}

  /** Calls fn for each record with a DataView over the whole batch and the record's offset and size. */
  forEach(fn: (view: DataView, offset: number, size: number) => void): void {
    const view = new DataView(this.buffer);
    const end = this.buffer.byteLength;
    let at = 0;
    for (let i = 0; i < this.count && at + 8 <= end; i++) {
      const size = view.getUint32(at, true);
      const offset = at + 8;
      if (offset + size > end) break; // cannot happen with our native reader; never read past the end
      fn(view, offset, size);
      at = offset + ((size + 7) & ~7);
    }
  }
}

export type BatchHandler = (batch: RecordBatch) => void;

export class RingReader {
  private readonly reader: NativeRingReader;
  private finalStats: RingReaderStats | undefined;
  /** Errors thrown by the handler: counted and kept (the last one), never allowed to kill the reader. */
  handlerErrors = 0;
  lastHandlerError: Error | undefined;

  constructor(readonly mapName: string, mapFd: number, handler: BatchHandler, options: RingReaderOptions = {}) {
    this.reader = new (native().RingReader)(mapFd, options, (buf, count) => {
      try {
        handler(new RecordBatch(buf, count));
      } catch (e) {
        this.handlerErrors++;
        this.lastHandlerError = e as Error;
      }
    }, () => setImmediate(this.resume)); // the next delivery waits for a turn of the event loop (timers, I/O)
  }

  private readonly resume = (): void => this.reader.resume();

  stats(): RingReaderStats {
    return this.finalStats ?? this.reader.stats();
  }

  /** Stops the thread, delivers batches still queued, and releases everything. Idempotent. */
  stop(): RingReaderStats {
    if (!this.finalStats) this.finalStats = this.reader.stop();
    return this.finalStats;
  }
}
