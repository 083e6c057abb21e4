// `tapio run --check-config FILE`: validates a config file and exits, as an operator (or CI, before rolling out a
// ConfigMap) runs it. No root needed: nothing is loaded into the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');

function check(text: string | undefined): { code: number | null; stdout: string; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-check-'));
  const file = path.join(dir, 'config.yaml');
  if (text !== undefined) fs.writeFileSync(file, text);
  try {
    const r = spawnSync(process.execPath, [TAPIO, 'run', '--check-config', file], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a valid config: exit 0 and one OK line naming the file', () => {
  const r = check('observe: { address: "0.0.0.0:9464" }\nlimits: { budget: { cpuPercent: 2 } }\n');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tapio run: \S+config\.yaml: configuration OK\n$/);
  assert.equal(r.stderr, '');
});

test('an invalid config: exit 2 and every bad key with the reason, nothing on stdout', () => {
  const r = check('kernel: { ringBufferBytes: 1000 }\nobserve: { adress: "x" }\n');
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /kernel\.ringBufferBytes: .*>=4096/);
  assert.match(r.stderr, /must be a power of two/);
  assert.match(r.stderr, /observe: Unrecognized key: "adress"/);
});

test('not YAML, or no file: exit 2 with the reason', () => {
  const bad = check('kernel: [unclosed\n');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not valid YAML\/JSON/);
  const missing = check(undefined);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read config file .*ENOENT/);
});
