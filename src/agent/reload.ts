// Config hot reload: what a new config file means for the running agent. The ConfigWatcher (src/config/watch.ts)
// says "here is a new valid config" or "this file is refused"; this file decides what to hand to whom: sampling and
// rate limits to the BPF limit maps, budgets to the adaptive controller, allowlists and severities to the security
// rules. Everything else is fixed at start: a change to it is logged as needing a restart and shown in /status.
import type { TapioConfig } from '../config/schema';
import { ConfigWatcher, changedKeys, hashConfigText, type ConfigChange, type ConfigReloadStatus } from '../config/watch';
import { reconfigureLimits } from '../pipeline/limits/reconfigure';
import type { LimitsHandle } from '../pipeline/limits/setup';

/**
 * Keys that take effect without a restart (a key matches when it is one of these or lies under one). Everything else
 * (ring and table sizes, collector and exporter switches, endpoints, the observe address, identity, ...) is read once
 * at start. Keep docs/operations.md "Configuration without restarts" in step with this list.
 */
export const LIVE_KEYS = [
  'limits.sampling', 'limits.rateLimits', 'limits.budget',
  'limits.adaptive.intervalMs', 'limits.adaptive.maxSampleEvery', 'limits.adaptive.raiseBelowRatio',
  'limits.adaptive.calmIntervals', 'limits.adaptive.kinds',
  'securitySignals.allow', 'securitySignals.severity', 'securitySignals.apiServerContact',
] as const;

export const isLiveKey = (key: string): boolean => LIVE_KEYS.some((k) => key === k || key.startsWith(`${k}.`));

/** What a reload hands new settings to. */
export interface ReloadTargets {
  agent: { setSecuritySignals(config: TapioConfig['securitySignals']): void };
  limits?: LimitsHandle;
  /** The budget object /status reads when the adaptive controller is off; updated in place. */
  budget?: { cpuFraction: number; memoryBytes: number };
}

export interface ConfigReloaderOptions {
  file: string;
  /** The config the agent started with (and the text it came from, for the hash). */
  config: TapioConfig;
  text: string;
  targets: ReloadTargets;
  log?: (message: string) => void;
  debounceMs?: number;
  pollMs?: number;
}

export class ConfigReloader {
  private readonly watcher: ConfigWatcher;
  private readonly started: TapioConfig;
  /** The file's last accepted config: its live parts are what runs, its restart-only parts are waiting. */
  private current: TapioConfig;
  private readonly state: ConfigReloadStatus;
  private readonly log: (m: string) => void;

  constructor(private readonly o: ConfigReloaderOptions) {
    this.started = this.current = o.config;
    this.log = o.log ?? ((m) => process.stderr.write(`tapio: ${m}\n`));
    this.state = { file: o.file, hash: hashConfigText(o.text), counts: { applied: 0, rejected: 0, unchanged: 0 }, needsRestart: [] };
    this.watcher = new ConfigWatcher({
      file: o.file, initialHash: this.state.hash, debounceMs: o.debounceMs, pollMs: o.pollMs,
      onChange: (c) => this.handle(c), log: this.log,
    });
  }

  start(): this {
    this.watcher.start();
    return this;
  }

  /** Re-read the file now (SIGHUP). */
  check(): void {
    this.watcher.check();
  }

  status(): ConfigReloadStatus {
    return { ...this.state, counts: { ...this.state.counts }, needsRestart: [...this.state.needsRestart],
      last: this.state.last && { ...this.state.last } };
  }

  close(): void {
    this.watcher.close();
  }

  private handle(change: ConfigChange): void {
    const at = new Date().toISOString();
    if (change.kind === 'unchanged') {
      this.state.counts.unchanged++;
      return;
    }
    if (change.kind === 'error') {
      this.state.counts.rejected++;
      this.state.last = { at, result: 'rejected', error: change.error };
      this.log(`config reload rejected, still using the previous config (${this.state.hash}): ${change.error}`);
      return;
    }
    for (const n of change.notes) this.log(n);
    const changed = changedKeys(this.current, change.config);
    const applied = changed.filter(isLiveKey);
    try {
      this.apply(change.config, applied);
    } catch (e) {
      // Should not happen (the config passed the schema); if it does, say so and keep what runs.
      const error = `applying ${this.o.file} failed: ${(e as Error).message}`;
      this.state.counts.rejected++;
      this.state.last = { at, result: 'rejected', error };
      this.log(`config reload rejected: ${error}`);
      return;
    }
    const waiting = changedKeys(this.started, change.config).filter((k) => !isLiveKey(k));
    for (const k of changed.filter((c) => !isLiveKey(c))) {
      this.log(`config: ${k} changed: needs a restart; ${waiting.includes(k) ? 'still using the old value' : 'back to the value in use'}`);
    }
    this.current = change.config;
    this.state.hash = change.hash;
    this.state.needsRestart = waiting;
    const result = changed.length === 0 ? 'unchanged' : 'applied';
    this.state.counts[result]++;
    this.state.last = { at, result, applied };
    if (applied.length) this.log(`config reloaded from ${this.o.file} (${change.hash}): applied ${applied.join(', ')}`);
  }

  private apply(next: TapioConfig, applied: string[]): void {
    const { targets } = this.o;
    if (applied.some((k) => k.startsWith('securitySignals.'))) targets.agent.setSecuritySignals(next.securitySignals);
    if (applied.some((k) => k.startsWith('limits.'))) {
      if (targets.limits) reconfigureLimits(targets.limits, this.current.limits, next.limits, this.log);
      if (targets.budget) {
        targets.budget.cpuFraction = next.limits.budget.cpuPercent / 100;
        targets.budget.memoryBytes = next.limits.budget.memoryMiB * 1048576;
      }
    }
  }
}
