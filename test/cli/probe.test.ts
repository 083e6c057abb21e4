// `tapio probe --json` tells the truth about this machine (needs root). Expectations come from independent checks
// of the system (mount table, tracefs contents), not from the probe's own code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');

function expectedCgroupLayout(): string {
  const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[2]);
  const v2 = mounts.includes('cgroup2');
  const v1 = mounts.includes('cgroup');
  return v2 && v1 ? 'hybrid' : v2 ? 'v2' : v1 ? 'v1' : 'none';
}

test('tapio probe --json is right for this machine', needsRoot, () => {
  const out = execFileSync(process.execPath, [TAPIO, 'probe', '--json'], { encoding: 'utf8', timeout: 60_000 });
  const r = JSON.parse(out);
  assert.equal(r.kernelRelease, fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
  assert.equal(r.btf.available, fs.existsSync('/sys/kernel/btf/vmlinux'));
  assert.equal(r.cgroups.layout, expectedCgroupLayout());
  assert.equal(r.tracefs.available, true);
  assert.equal(r.ringBuffer.available, true);
  assert.equal(r.programs.tracepoint.available, true, r.programs.tracepoint.reason);
  assert.equal(r.programs.raw_tracepoint.available, true);
  // kprobes exist exactly when the kernel has kprobe_events; when absent the reason is the kernel's error.
  const tracefs = fs.existsSync('/sys/kernel/tracing/events') ? '/sys/kernel/tracing' : '/sys/kernel/debug/tracing';
  const kprobes = fs.existsSync(`${tracefs}/kprobe_events`);
  assert.equal(r.programs.kprobe.available, kprobes);
  if (!kprobes) assert.match(r.programs.kprobe.reason, /attach failed: .*(No such file or directory|Operation not supported)/);
  for (const [kind, res] of Object.entries<{ available: boolean; reason?: string }>(r.programs)) {
    if (!res.available) assert.ok(res.reason && res.reason.length > 10, `${kind} is unavailable with a reason`);
  }
  // Every collector is listed with a mode (or UNAVAILABLE) per hook, and a hook never runs in a mode the probe
  // says is unavailable.
  for (const c of r.collectors) {
    for (const h of c.hooks) {
      if (h.mode) assert.ok(r.programs[h.mode]?.available !== false || r.programs[h.mode]?.state === 'inconclusive', `${c.collector}/${h.hook} planned on ${h.mode}, which the probe ruled out`);
    }
  }
});

test('tapio probe refuses to run without root, saying why', { skip: process.getuid?.() === 0 ? 'runs as root here' : false }, () => {
  assert.throws(() => execFileSync(process.execPath, [TAPIO, 'probe'], { encoding: 'utf8', stdio: 'pipe' }), /needs root/);
});

test('without tracefs, tapio probe mounts it and tracepoints still attach (in a private mount namespace)', needsRoot, () => {
  // unshare gives this command its own mount table: unmounting tracefs there leaves the machine's alone.
  const script = `umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null;
    test -e /sys/kernel/tracing/events && { echo still-mounted; exit 3; }
    exec ${JSON.stringify(process.execPath)} ${JSON.stringify(TAPIO)} probe --json`;
  const out = execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
  const r = JSON.parse(out);
  assert.equal(r.tracefs.available, true);
  assert.match(r.tracefs.detail, /mounted by tapio/);
  assert.equal(r.programs.tracepoint.available, true, r.programs.tracepoint.reason);
});
