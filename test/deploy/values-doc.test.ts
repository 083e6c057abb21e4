// docs/install.md's values reference is generated from the chart's values.schema.json and values.yaml; this fails
// when the committed text is out of date (run `npm run docs:values`), or when a value has no description.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

 
const gen = require(path.join(__dirname, '..', '..', '..', 'scripts', 'gen-values-doc.js')) as
  { valuesReference(): string; withReference(doc: string): string; DOC: string };

test('docs/install.md holds the current values reference', () => {
  const doc = fs.readFileSync(gen.DOC, 'utf8');
  assert.equal(doc, gen.withReference(doc), 'docs/install.md is out of date: run npm run docs:values');
});

test('every value in the reference has a type and a meaning', () => {
  const lines = gen.valuesReference().split('\n').slice(2);
  assert.ok(lines.length >= 40, `${lines.length} values`);
  for (const l of lines) {
    const cells = l.split(/(?<!\\)\|/).map((c) => c.trim());
    assert.ok(cells[2], `${cells[1]} has a type`);
    assert.ok(cells[4], `${cells[1]} has a meaning`);
  }
  assert.ok(lines.some((l) => l.startsWith('| `agent.metricsPort` | integer (>= 1024, <= 65535) | `9464` |')));
});
