// docs/configuration.md is generated from the schema: it must list exactly what the agent accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configReference } from '../../src/config/reference';

test('docs/configuration.md is up to date with the config schema (npm run docs:config)', () => {
  const committed = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'configuration.md'), 'utf8');
  assert.equal(committed, configReference());
});

test('the reference names keys from every section, with their defaults', () => {
  const ref = configReference();
  for (const key of ['kernel.coalesceMs', 'collectors.process.argvMaxBytes', 'identity.kubernetes.podLabels',
    'export.otlp.spool.maxBytes', 'limits.budget.cpuPercent', 'observe.address']) {
    assert.match(ref, new RegExp(`\\| \`${key.replace(/\./g, '\\.')}\` \\|`), key);
  }
  assert.match(ref, /\| `kernel\.coalesceMs` \| integer \(>= 1, <= 10\) \| `5` \|/);
});
