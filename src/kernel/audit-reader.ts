// The typed face of the addon's AuditReader (native/src/audit_reader.cc): read-only audit multicast, batches of
// raw netlink datagrams in the RecordBatch format (parsed by src/collectors/audit). Kept apart from native.ts because
// only the audit collector uses it.
import { native } from './native';
import { RecordBatch } from './ring';

export interface AuditReaderStats {
  datagrams: number;
  bytes: number;
  batches: number;
  callbacks: number;
  /** Datagrams dropped because JS was behind (the queue of batches was full). */
  queueDrops: number;
  /** Times the kernel reported our socket buffer overflowed (records lost, count unknown). */
  socketOverruns: number;
  recvErrors: number;
  running: boolean;
}

interface NativeAuditReader {
  stop(): AuditReaderStats;
  stats(): AuditReaderStats;
}

export interface AuditReaderOptions {
  coalesceMs?: number;
  batchRecords?: number;
  queueBatches?: number;
  receiveBufferBytes?: number;
}

type AuditAddon = { AuditReader: new (o: AuditReaderOptions, cb: (b: ArrayBuffer, n: number) => void) => NativeAuditReader };

export class AuditReader {
  private readonly reader: NativeAuditReader;
  private finalStats: AuditReaderStats | undefined;
  handlerErrors = 0;

  /** Throws with the kernel's reason when the socket cannot be opened or bound (no audit, no CAP_AUDIT_READ). */
  constructor(handler: (datagram: Uint8Array) => void, options: AuditReaderOptions = {}) {
    const addon = native() as unknown as AuditAddon;
    this.reader = new addon.AuditReader(options, (buf, count) => {
      new RecordBatch(buf, count).forEach((view, offset, size) => {
        try {
          handler(new Uint8Array(view.buffer, offset, size));
        } catch {
          this.handlerErrors++;
        }
      });
    });
  }

  stats(): AuditReaderStats {
    return this.finalStats ?? this.reader.stats();
  }

  stop(): AuditReaderStats {
    if (!this.finalStats) this.finalStats = this.reader.stop();
    return this.finalStats;
  }
}
