// Least privilege: the agent checks capabilities, not uid 0. A non-root agent (uid 65534) holding CAP_BPF,
// CAP_PERFMON and CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH as ambient capabilities (setpriv, util-linux) runs and
// attaches its programs; one without them is refused with the missing capability named. Needs root to hand out caps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CAP, checkCapabilities, effectiveCapabilities } from '../../src/kernel/capabilities';
import { needsRoot } from '../helpers/root';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');
// Observe off: another agent on this shared box may hold the default port, which now refuses start-up.
const CONFIG = path.join(os.tmpdir(), `tapio-caps-${process.pid}.yaml`);
fs.writeFileSync(CONFIG, 'observe:\n  enabled: false\n', { mode: 0o644 });
process.on('exit', () => fs.rmSync(CONFIG, { force: true }));
const bit = (c: number) => 1n << BigInt(c);

test('the capability check names what is missing and what it costs', () => {
  assert.equal(effectiveCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n'), 0x1ffffffffffn);
  const none = checkCapabilities(0n);
  assert.equal(none.canLoad, false);
  assert.match(none.error!, /missing CAP_BPF and CAP_PERFMON/);
  assert.doesNotMatch(none.error!, /SYS_ADMIN/, 'CAP_SYS_ADMIN is not required');
  assert.match(checkCapabilities(bit(CAP.PERFMON)).error!, /missing CAP_BPF:/);
  const minimal = checkCapabilities(bit(CAP.BPF) | bit(CAP.PERFMON));
  assert.equal(minimal.canLoad, true);
  assert.ok(minimal.warnings.some((w) => /CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH.*owner_unknown/.test(w)));
  assert.ok(minimal.warnings.some((w) => /CAP_SYS_ADMIN: per-program run-time statistics/.test(w)));
  assert.equal(checkCapabilities(bit(CAP.SYS_ADMIN) | bit(CAP.AUDIT_READ)).warnings.length, 0);
});

function runAs(caps: string[], args: string[]): Promise<{ code: number | null; stderr: string }> {
  const c = caps.map((x) => `+${x}`).join(',');
  const capArgs = caps.length ? [`--inh-caps=${c}`, `--ambient-caps=${c}`] : [];
  const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...capArgs, process.execPath, TAPIO, 'run',
    '--output', 'none', '--config', CONFIG, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no exit in 60 s: ${stderr}`)); }, 60_000);
    child.once('exit', (code) => { clearTimeout(t); resolve({ code, stderr }); });
  });
}

test('a non-root agent with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH runs', needsRoot, async () => {
  const r = await runAs(['bpf', 'perfmon', 'sys_ptrace', 'dac_read_search'], ['--duration', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /process\/exec: (tp_btf|tracepoint)/, 'programs attached');
  assert.match(r.stderr, /no CAP_SYS_ADMIN: per-program run-time statistics are off/);
});

test('a non-root agent without capabilities is refused, naming them', needsRoot, async () => {
  const r = await runAs([], ['--duration', '2']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /tapio run: missing CAP_BPF and CAP_PERFMON: needed to load and attach the BPF programs/);
});
