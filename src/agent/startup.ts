// Start-up and shutdown guards of `tapio run`: problems found after the config file parsed (an ftp:// endpoint, a bad
// spool key, a bad OTEL_* variable, a missing capability, another agent holding the lock) end the run with one line
// and exit code 2, like any other config error, never a stack; and shutdown as a whole has a deadline, so nothing
// (a hung collector, a spool dir that never opens) keeps a stopping pod alive.
import { ExportConfigError } from '../export/settings';
import { SpoolKeyError } from '../export/spool-file';
import { StartupError } from '../core/startup-error';

export { StartupError };


/** The one-line message and exit code for an error that means "fix the setup", or undefined for a bug. */
export function startupFailure(e: unknown): { message: string; exitCode: number } | undefined {
  if (e instanceof StartupError) return { message: e.message, exitCode: e.exitCode };
  if (e instanceof ExportConfigError || e instanceof SpoolKeyError) return { message: e.message, exitCode: 2 };
  return undefined;
}

/** Run `steps` in order, but give up waiting after `deadlineMs`; true when they all finished in time. */
export async function withinDeadline(deadlineMs: number, steps: () => Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((r) => { timer = setTimeout(() => r(false), deadlineMs); });
  const done = steps().then(() => true as const);
  try {
    return await Promise.race([done, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** After the summary: leave even when a handle is still open (a hung socket, a thread-pool call that never ends). */
export function exitSoonEvenIfBusy(code: number, graceMs = 1000): void {
  setTimeout(() => process.exit(code), graceMs).unref();
}
