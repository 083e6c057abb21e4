// An exporter's state in the generic shape the agent's own metrics and /status read (src/observe's ExporterHealth):
// the exporter reports it; observe never looks inside an exporter.
import type { OtlpExporterStats } from './otlp';

export interface ExporterHealthReport {
  name: string;
  queuedRecords: number;
  /** Bytes of encoded batches held in memory (against export.otlp.queueMaxBytes). */
  queuedBytes: number;
  spoolBytes: number;
  spoolFiles: number;
  sentRecords: number;
  failedAttempts: number;
  failing: boolean;
  lastError?: string;
}

/** The OTLP exporter's stats() as one health report. */
export function otlpExporterHealth(name: string, exporter: { stats(): OtlpExporterStats }): ExporterHealthReport {
  const s = exporter.stats();
  let queuedRecords = 0, sentRecords = 0, failedAttempts = 0;
  let failing = false;
  let lastError: string | undefined;
  for (const sig of Object.values(s.signals)) {
    if (!sig.enabled) continue;
    queuedRecords += sig.queuedRecords;
    sentRecords += sig.sentRecords;
    failedAttempts += sig.failedAttempts;
    if (sig.retryingSince !== undefined) failing = true;
    if (sig.lastError) lastError = String(sig.lastError);
  }
  return { name, queuedRecords, queuedBytes: s.memory.bytes, spoolBytes: s.spool.bytes, spoolFiles: s.spool.files, sentRecords, failedAttempts, failing, lastError };
}
