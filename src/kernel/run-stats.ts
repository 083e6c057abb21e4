// The kernel's own accounting of BPF programs, for the agent's metrics: run count and run time per program (on
// while the handle from enableRunStats() stays open; needs CAP_SYS_ADMIN), and the CPU count per-CPU maps use.
import { native } from './native';

/** Switches the kernel's BPF run-time statistics on until close(); throws with the kernel's reason when refused. */
export function enableRunStats(): { close(): void } {
  let fd: number | undefined = native().enableRunStats();
  return {
    close() {
      if (fd === undefined) return;
      try { native().closeFd(fd); } catch { /* already closed */ }
      fd = undefined;
    },
  };
}

/** Run count and total run time of one attached program (by its fd). */
export function programRunInfo(programFd: number): { runCount: number; runTimeNs: number } {
  const info = native().programInfo(programFd);
  return { runCount: info.runCount, runTimeNs: info.runTimeNs };
}

/** CPUs the kernel may ever bring online: per-CPU map values hold one slot for each. */
export function possibleCpuCount(): number {
  return native().numPossibleCpus();
}
