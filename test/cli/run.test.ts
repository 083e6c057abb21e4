// `tapio run` as a user runs it (needs root): JSON lines on stdout as events happen, filters, a clean stop after
// --duration, and the summary on stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');

interface Run { stdout: string; stderr: string; code: number | null; lines: Record<string, unknown>[] }

/** Starts tapio, waits until it prints its first event (it is attached), runs `during`, and collects the output. */
async function runTapio(args: string[], during: () => void, nudgeOnce: () => void = () => execFileSync('/bin/true', ['tapio-nudge'])): Promise<Run> {
  const child = spawn(process.execPath, [TAPIO, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let started = false;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`tapio printed nothing in 30 s; stderr: ${stderr}`)), 30_000);
    // Any output on stdout means the collectors are attached; nudge with a harmless exec until it shows.
    const nudge = setInterval(nudgeOnce, 200);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!started) { started = true; clearInterval(nudge); clearTimeout(t); resolve(); }
    });
    child.once('exit', () => { clearInterval(nudge); clearTimeout(t); if (!started) reject(new Error(`tapio exited early: ${stderr}`)); });
  });
  during();
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stdout, stderr, code, lines };
}

test('tapio run --output json: one JSON object per event, flushed as events arrive, stops after --duration', needsRoot, async () => {
  const marker = `tapio-run-test-${process.pid}`;
  const r = await runTapio(['--output', 'json', '--duration', '4', '--events', 'process'], () => {
    execFileSync('/bin/sh', ['-c', `exit 0`, marker]);
  });
  assert.equal(r.code, 0, r.stderr);
  const exec = r.lines.find((l) => l['event.name'] === 'process.exec' && (l['process.command_args'] as string[]).includes(marker));
  assert.ok(exec, 'the marker command was seen');
  assert.match(String(exec.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/, 'RFC 3339 with nanoseconds');
  assert.equal(exec['process.executable.path'], '/bin/sh', 'the path the binary was executed by');
  assert.ok(r.lines.every((l) => String(l['event.name']).startsWith('process.')), '--events process keeps only process events');
  // The summary on stderr: events per kind, drops, and the hook each collector uses.
  assert.match(r.stderr, /events per kind/);
  assert.match(r.stderr, /process\.exec\s+\d+ \/ \d+/);
  assert.match(r.stderr, /drops \(stage kind reason: count\):/);
  assert.match(r.stderr, /process\/exec: tp_btf|process\/exec: tracepoint/);
});

test('tapio run --pid keeps only that process\'s events', needsRoot, async () => {
  // This test process makes TCP connections (events with its pid) and runs /bin/true (events with other pids).
  const server = net.createServer((c) => c.end()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  const connect = () => { net.connect(port, '127.0.0.1').on('error', () => undefined).resume(); execFileSync('/bin/true'); };
  try {
    const r = await runTapio(['--output', 'json', '--duration', '3', '--pid', String(process.pid)], connect, connect);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.lines.some((l) => l['event.name'] === 'network.tcp.connect' && l['network.peer.port'] === port), 'our connects were seen');
    assert.ok(r.lines.every((l) => l['process.pid'] === process.pid), 'only events of the given pid');
  } finally {
    server.close();
  }
});

test('tapio run refuses bad options with a clear message', needsRoot, () => {
  for (const [args, msg] of [[['--output', 'xml'], /--output must be json, pretty or none/], [['--duration', '0'], /--duration must be a positive number/], [['--pid', 'abc'], /--pid takes comma-separated process ids/]] as const) {
    assert.throws(() => execFileSync(process.execPath, [TAPIO, 'run', ...args], { stdio: 'pipe' }), (e: { stderr: Buffer; status: number }) => {
      assert.equal(e.status, 2);
      assert.match(e.stderr.toString(), msg);
      return true;
    });
  }
});

test('SIGTERM (a pod being stopped) ends tapio run cleanly, with the summary', needsRoot, async () => {
  const child = spawn(process.execPath, [TAPIO, 'run', '--output', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const nudge = setInterval(() => execFileSync('/bin/true'), 200);
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no output in 30 s: ${stderr}`)), 30_000);
      child.stdout.once('data', () => { clearTimeout(t); resolve(); });
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /events per kind/);
  } finally {
    clearInterval(nudge);
    child.kill('SIGKILL');
  }
});
