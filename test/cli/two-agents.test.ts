// Two `tapio run` on one node with the same spool directory and observe socket: the second refuses to start with a
// clear message and exit code 2; the first keeps its socket and spool. Real processes, real BPF (needs root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');

function runTapio(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [TAPIO, 'run', '--output', 'none', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no exit in 60 s: ${stderr}`)); }, 60_000);
    child.once('exit', (code) => { clearTimeout(t); resolve({ code, stderr }); });
  });
}

test('a second agent with the same spool dir or observe socket refuses to start', needsRoot, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-two-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'key');
  fs.writeFileSync(key, Buffer.alloc(32, 5), { mode: 0o600 });
  const sock = path.join(dir, 'observe.sock');
  const spoolCfg = `export:\n  otlp:\n    enabled: true\n    endpoint: http://127.0.0.1:1\n    spool:\n      dir: ${dir}/spool\n      keyFile: ${key}\n`;
  const both = path.join(dir, 'a.yaml');
  fs.writeFileSync(both, `observe:\n  address: ${sock}\n${spoolCfg}`);
  const a = spawn(process.execPath, [TAPIO, 'run', '--output', 'none', '--config', both], { stdio: ['ignore', 'ignore', 'pipe'] });
  let aErr = '';
  a.stderr.on('data', (d) => { aErr += d; });
  t.after(() => a.kill('SIGKILL'));
  const deadline = Date.now() + 30_000;
  while (!/metrics and health on unix:/.test(aErr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(aErr, /metrics and health on unix:/, 'agent A is up');

  const sameSpool = await runTapio(['--duration', '2', '--config', both]);
  assert.equal(sameSpool.code, 2, sameSpool.stderr);
  assert.match(sameSpool.stderr, new RegExp(`another Tapio agent \\(pid ${a.pid}\\) is using spool directory`));

  const onlySocket = path.join(dir, 'b.yaml');
  fs.writeFileSync(onlySocket, `observe:\n  address: ${sock}\n`);
  const sameSocket = await runTapio(['--duration', '2', '--config', onlySocket]);
  assert.equal(sameSocket.code, 2, sameSocket.stderr);
  assert.match(sameSocket.stderr, /another process \(another Tapio agent\?\) serves this socket/);
  assert.ok(fs.lstatSync(sock).isSocket(), 'A\'s socket is still there');

  a.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => a.once('exit', r));
  assert.equal(code, 0, aErr);
  assert.equal(fs.existsSync(path.join(dir, 'spool', '.tapio.lock')), false, 'A released its lock');
});
