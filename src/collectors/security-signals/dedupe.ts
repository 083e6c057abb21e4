// One seccomp violation can be seen twice: as a SIGSYS in BPF and as an audit 1326 record. Whichever arrives first
// is reported; the other is merged into it (counted, not lost). Shared by both collectors of this process.
const WINDOW_MS = 3000;
const recent = new Map<string, number>();

/** True the first time (pid, syscall) is claimed within the window. */
export function claimSeccompViolation(pid: number, syscallNr: number, now = Date.now()): boolean {
  if (recent.size > 4096) {
    for (const [k, t] of recent) if (now - t > WINDOW_MS) recent.delete(k);
  }
  const key = `${pid}:${syscallNr}`;
  const t = recent.get(key);
  if (t !== undefined && now - t <= WINDOW_MS) return false;
  recent.set(key, now);
  return true;
}
