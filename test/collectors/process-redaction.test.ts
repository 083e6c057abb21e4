// Command lines carry the same secrets as requests: a real `curl -H 'Authorization: Bearer ...'` with a token in the
// URL and a `--password=` style flag, exec'd under the real process collector, never shows the secrets in its
// exec event (or in the exit event that repeats the arguments), while the rest of the command line stays readable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { needsRoot } from '../helpers/root';
import { ProcessCollector } from '../../src/collectors/process';
import { formatJson } from '../../src/export/console';
import { runCollector } from './collect';

const SECRETS = ['s3cr3tBearerValue', 'tok3nInQuery', 'hunter2pass'];

test('curl with Authorization, ?token= and --password=: exec and exit events carry the command, not the secrets', needsRoot, async () => {
  const run = await runCollector(new ProcessCollector(), { collectors: { process: { argvMaxCount: 16 } } });
  try {
    // Port 9 on loopback refuses at once: curl runs, fails fast, and its argv is what we look at.
    const child = spawnSync('curl', ['-s', '--max-time', '2', '-H', `Authorization: Bearer ${SECRETS[0]}`,
      `http://127.0.0.1:9/api/items?token=${SECRETS[1]}&page=2`, `--password=${SECRETS[2]}`], { stdio: 'ignore' });
    const pid = child.pid;
    const mine = () => run.events.filter((e) => e.attributes['process.pid'] === pid);
    assert.ok(await run.waitFor(() => mine().some((e) => e.name === 'process.exit')), 'exec and exit of curl seen');
    const exec = mine().find((e) => e.name === 'process.exec');
    assert.ok(exec, 'exec event');
    const args = exec.attributes['process.command_args'] as string[];
    assert.equal(args[0], 'curl');
    assert.ok(args.includes('-H') && args.some((a) => a.startsWith('Authorization: ')), JSON.stringify(args));
    assert.ok(args.some((a) => a.startsWith('http://127.0.0.1:9/api/items?') && a.includes('page=2')), JSON.stringify(args));
    const lines = mine().map((e) => formatJson(e)).join('\n');
    for (const s of SECRETS) assert.ok(!lines.includes(s), `secret ${s} in output: ${lines}`);
    assert.ok(lines.includes('[REDACTED]'), lines);
  } finally {
    await run.stop();
  }
});
