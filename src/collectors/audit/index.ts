// The audit collector: LSM denials (AppArmor, SELinux, Landlock) and seccomp audit records from the kernel audit
// netlink socket's read-only multicast group, read by the addon's AuditReader thread. It never registers as the
// audit daemon and never changes an audit setting: it only hears what the kernel logs (Landlock logs only while
// audit is enabled by whoever runs auditd). Events carry the process (from the record, /proc at arrival) and its
// cgroup id, looked up from the pid when the record arrives (counted when the process is already gone).
import type { Collector, CollectorContext, CollectorStatus } from '../types';
import type { HookStatus } from '../../kernel/loader';
import { AuditReader } from '../../kernel/audit-reader';
import { parseAuditRecord, splitNetlink } from './parse';
import { AuditInterpreter } from './interpret';
import { cgroupIdOfPid, processAttributes } from '../security-signals/event';
import { claimSeccompViolation } from '../security-signals/dedupe';

export class AuditCollector implements Collector {
  readonly name = 'audit';
  private reader: AuditReader | undefined;
  private interpreter: AuditInterpreter | undefined;
  private ctx: CollectorContext | undefined;
  private timer: NodeJS.Timeout | undefined;
  private error: string | undefined;
  private malformed = 0;
  private stopped = false;

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    const interpreter = this.interpreter = new AuditInterpreter({
      lookup: { attributes: processAttributes, cgroupId: (pid) => cgroupIdOfPid(pid) },
      groupWaitMs: ctx.config.securitySignals.lsm.groupWaitMs,
      claimSeccomp: ctx.config.securitySignals.seccomp.enabled ? claimSeccompViolation : undefined,
    });
    const emit = (events: ReturnType<AuditInterpreter['flush']>) => {
      if (events.length === 0) return;
      try {
        ctx.emit(events);
      } catch {
        for (const e of events) ctx.drops.count('pipeline', e.name, 'emit_failed');
      }
    };
    // Groups without an EOE (no syscall context) are decided once they have waited long enough: a timer only while
    // some wait (an interval woke an idle agent 10 times a second for nothing).
    const every = Math.max(20, ctx.config.securitySignals.lsm.groupWaitMs / 2);
    const schedule = () => {
      if (this.timer || this.stopped || interpreter.pending === 0) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        emit(interpreter.flush());
        schedule();
      }, every);
      this.timer.unref();
    };
    try {
      this.reader = new AuditReader((datagram) => {
        const split = splitNetlink(datagram);
        if (split.error) this.bad(split.error);
        const events = [];
        for (const m of split.messages) {
          const r = parseAuditRecord(m.type, m.text);
          if ('error' in r) { this.bad(r.error); continue; }
          events.push(...interpreter.add(r.record));
        }
        emit(events);
        schedule();
      }, { coalesceMs: ctx.config.kernel.coalesceMs, queueBatches: ctx.config.kernel.queueBatches });
    } catch (e) {
      this.error = (e as Error).message;
      ctx.log(`audit collector unavailable: ${this.error}`);
      return;
    }
  }

  private bad(reason: string): void {
    this.malformed++;
    this.ctx?.drops.count('decode', 'security.audit', reason);
  }

  status(): CollectorStatus {
    const hook: HookStatus = { name: 'audit_netlink_multicast', optional: false, attempts: [] };
    if (this.reader) hook.chosen = { kind: 'tracepoint', program: 'netlink_audit_readlog' };
    else if (this.error) hook.attempts.push({ kind: 'tracepoint', program: 'netlink_audit_readlog', stage: 'attach', error: this.error });
    const c = this.interpreter?.counters;
    return {
      name: this.name, available: !!this.reader, hooks: [hook], events: { ...(this.interpreter?.counts ?? {}) },
      counters: {
        audit_records: c?.records ?? 0, audit_records_ignored: c?.ignored ?? 0, audit_malformed: this.malformed,
        process_gone: c?.processGone ?? 0, seccomp_merged_with_bpf: c?.seccompMerged ?? 0,
      },
    };
  }

  syncCounters(): void {
    if (!this.reader || !this.ctx || this.stopped) return;
    const st = this.reader.stats();
    // Losses: batches JS could not take in time, and the kernel's reports of our socket buffer overflowing.
    this.ctx.drops.set('reader', 'security.audit', 'queue_full', st.queueDrops);
    this.ctx.drops.set('reader', 'security.audit', 'socket_overrun', st.socketOverruns);
    if (this.reader.handlerErrors) this.ctx.drops.set('decode', 'security.audit', 'handler_error', this.reader.handlerErrors);
  }

  async stop(): Promise<void> {
    const running = !!this.reader && !this.stopped;
    if (running) {
      this.reader!.stop(); // delivers what is queued (which may arm the timer)
      this.syncCounters();
    }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!running) return;
    const rest = this.interpreter?.flush(Date.now(), true) ?? [];
    if (rest.length) this.ctx?.emit(rest);
  }
}
