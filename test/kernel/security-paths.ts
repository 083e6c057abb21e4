// Compares what the security tests saw on two paths (kernel matrix, test/kernel/matrix-security.test.ts): the events
// the same real triggers gave with the LSM forms, with the tracepoint forms, and on this host. Each dump row is one
// event a test asserted on (test/collectors/security/helpers.ts TAPIO_SECURITY_DUMP). Values that differ between any
// two runs whatever the path (pids, temp dir names, the parent chain of the test runner) are left out; everything
// else must be equal, key for key.

export interface DumpRow {
  path?: string;
  detection: string;
  what: string;
  attributes: Record<string, unknown>;
}

/** Keys whose values belong to one run, not to the path: compared for presence only. */
const PER_RUN = new Set([
  'process.pid', 'thread.id', 'process.parent_pid', 'tapio.process.ancestors.pids', 'tapio.process.ancestors.executables',
  'tapio.security.target_pid', 'tapio.security.child_pid', 'tapio.cgroup.id', 'tapio.security.stdin.tty',
]);
/** Read from /proc when the record is decoded: present only if the process still runs then. */
const RACY = new Set(['process.command_args']);
/** Which form reported it: differs by design (checked on its own). */
const BY_DESIGN = new Set(['tapio.security.hook']);
/** Differ between kernels or machines, not between paths: left out when comparing the VM with this host. */
export const PER_MACHINE = new Set(['tapio.process.capabilities.effective', 'tapio.security.old.capabilities.effective']);

const tempName = (v: unknown): unknown => (typeof v === 'string' ? v.replace(/\/tmp\/tapio-sec-[^/]+/g, '/tmp/<dir>').replace(/tapio-sec-test-\d+/, 'tapio-sec-test-<pid>') : v);

export function key(r: DumpRow): string {
  return `${r.detection} | ${r.what}`;
}

/** Differences between two events of the same test, as readable lines (empty when they agree). */
export function differences(a: DumpRow, b: DumpRow, ignore: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a.attributes), ...Object.keys(b.attributes)]);
  for (const k of [...keys].sort()) {
    if (RACY.has(k) || BY_DESIGN.has(k) || ignore.has(k)) continue;
    const inA = k in a.attributes, inB = k in b.attributes;
    if (inA !== inB) { out.push(`${k}: only in ${inA ? a.path ?? 'first' : b.path ?? 'second'}`); continue; }
    if (PER_RUN.has(k)) continue;
    const va = JSON.stringify(tempName(a.attributes[k])), vb = JSON.stringify(tempName(b.attributes[k]));
    if (va !== vb) out.push(`${k}: ${va} (${a.path ?? 'first'}) != ${vb} (${b.path ?? 'second'})`);
  }
  return out;
}

/** Rows by test key (the first row of each: a test's expectEvent names one event). */
export function byKey(rows: DumpRow[]): Map<string, DumpRow> {
  const m = new Map<string, DumpRow>();
  for (const r of rows) if (!m.has(key(r))) m.set(key(r), r);
  return m;
}
