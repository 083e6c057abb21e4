// `tapio run` with problems that only show once the agent starts building its services: each ends with one line
// naming the setting and exit code 2 (like every other config error), never a JavaScript stack. A spool directory
// under /proc (where Node's recursive mkdir spins for ever) does not hang the agent: it runs and stops on time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');

function runTapio(args: string[], env: NodeJS.ProcessEnv = {}, limitMs = 60_000): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [TAPIO, 'run', '--output', 'none', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`tapio run did not exit in ${limitMs} ms: ${stderr}`)); }, limitMs);
    child.once('exit', (code) => { clearTimeout(t); resolve({ code, stderr, ms: Date.now() - started }); });
  });
}

function configFile(dir: string, text: string): string {
  const f = path.join(dir, 'tapio.yaml');
  fs.writeFileSync(f, text);
  return f;
}

test('errors found after start-up give one line and exit code 2, never a stack', needsRoot, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-startup-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const shortKey = path.join(dir, 'short.key');
  fs.writeFileSync(shortKey, Buffer.alloc(25, 1), { mode: 0o600 });
  const cases: { what: string; config: string; env?: NodeJS.ProcessEnv; message: RegExp }[] = [
    { what: 'ftp endpoint', config: 'export:\n  otlp:\n    enabled: true\n    endpoint: ftp://127.0.0.1:4318\n', message: /endpoint "ftp:\/\/127\.0\.0\.1:4318\/v1\/logs" must be http:\/\/ or https:\/\// },
    { what: 'spool without key', config: `export:\n  otlp:\n    enabled: true\n    spool:\n      dir: ${dir}/spool\n`, message: /spool\.keyFile is required/ },
    { what: 'short key', config: `export:\n  otlp:\n    enabled: true\n    spool:\n      dir: ${dir}/spool\n      keyFile: ${shortKey}\n`, message: /expected a 32-byte key.*found 25 bytes/ },
    { what: 'OTEL timeout', config: '', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_EXPORTER_OTLP_TIMEOUT: 'abc' }, message: /^tapio run: OTEL_EXPORTER_OTLP_TIMEOUT: "abc" is not a positive number/m },
    { what: 'OTEL protocol', config: '', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_EXPORTER_OTLP_PROTOCOL: 'bogus' }, message: /^tapio run: OTEL_EXPORTER_OTLP_PROTOCOL: unknown protocol "bogus"/m },
    { what: 'OTEL endpoint', config: '', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'garbage' }, message: /is not a URL/ },
  ];
  for (const c of cases) {
    const r = await runTapio(['--duration', '1', '--config', configFile(dir, c.config)], c.env);
    assert.equal(r.code, 2, `${c.what}: ${r.stderr}`);
    assert.match(r.stderr, c.message, c.what);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${c.what}: no stack trace: ${r.stderr}`);
    assert.match(r.stderr.trim().split('\n').at(-1)!, /^tapio run: /, `${c.what}: ends with the one-line reason`);
  }
});

test('a spool dir under /proc does not hang the agent: it says so and stops on time', needsRoot, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-startup-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'key');
  fs.writeFileSync(key, Buffer.alloc(32, 3), { mode: 0o600 });
  const r = await runTapio(['--duration', '2', '--config', configFile(dir,
    `observe:\n  enabled: false\nexport:\n  otlp:\n    enabled: true\n    endpoint: http://127.0.0.1:1\n    spool:\n      dir: /proc/tapio-spool-test\n      keyFile: ${key}\n`)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /spool directory \/proc\/tapio-spool-test\/logs unusable \(cannot create .*takes no new directories/);
  assert.match(r.stderr, /events per kind/, 'the summary was printed');
});
