// The alert rules shipped in deploy/alerts: the plain Prometheus file and the PrometheusRule hold the same rules,
// every rule is complete, and every metric a rule uses is one the agent really exports (scraped from a real observe
// server over a real, not started, Agent: metric families are listed even before they have samples).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load';
import { Agent } from '../../src/agent/agent';
import { fetchText } from '../../src/cli/status';
import { METRIC_NAMES, startObserveServer } from '../../src/observe';

const ALERTS = path.join(__dirname, '..', '..', '..', 'deploy', 'alerts');

interface Rule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface Group { name: string; rules: Rule[] }

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, label names or values. */
function metricsIn(expr: string): string[] {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}').replace(/\[[^\]]*\]/g, '[]');
  const names = new Set<string>();
  for (const m of noStrings.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)) {
    if (m[2]) continue; // a function call: rate(, sum(, max_over_time(
    if (/^(by|without|and|or|unless|on|ignoring|group_left|group_right|bool|offset|sum|avg|min|max|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)$/.test(m[1])) continue;
    names.add(m[1]);
  }
  // `sum by (instance)`: the names inside by/without parentheses are labels.
  for (const m of noStrings.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) for (const l of m[1].split(',')) names.delete(l.trim());
  return [...names];
}

function loadGroups(): { plain: Group[]; operator: Group[] } {
  const plain = parseYaml(fs.readFileSync(path.join(ALERTS, 'tapio-rules.yaml'), 'utf8')) as { groups: Group[] };
  const op = parseYaml(fs.readFileSync(path.join(ALERTS, 'tapio-prometheusrule.yaml'), 'utf8')) as
    { apiVersion: string; kind: string; spec: { groups: Group[] } };
  assert.equal(op.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(op.kind, 'PrometheusRule');
  return { plain: plain.groups, operator: op.spec.groups };
}

test('the plain rule file and the PrometheusRule hold the same, complete rules', () => {
  const { plain, operator } = loadGroups();
  assert.deepEqual(operator, plain);
  const rules = plain.flatMap((g) => g.rules);
  for (const r of rules) {
    assert.match(r.alert, /^Tapio[A-Z]\w+$/);
    assert.ok(r.expr.trim(), `${r.alert} has an expression`);
    assert.ok(r.labels?.severity, `${r.alert} has a severity`);
    assert.ok(r.annotations?.summary, `${r.alert} has a summary`);
  }
  for (const needed of ['TapioEventLoss', 'TapioCollectorDown', 'TapioExporterFailing', 'TapioOverBudget']) {
    assert.ok(rules.some((r) => r.alert === needed), `${needed} is shipped`);
  }
  assert.match(rules.find((r) => r.alert === 'TapioEventLoss')!.expr, /> 0\.001/, 'loss threshold 0.1%');
});

test('every metric the rules use is exported by the agent', async () => {
  const agent = new Agent({ config: parseConfig(''), sinks: [], log: () => undefined });
  const server = await startObserveServer({ address: '127.0.0.1:0', sources: { agent }, programRunStats: false });
  try {
    const text = (await fetchText(server.url, '/metrics', 5000)).body;
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const name of METRIC_NAMES) assert.ok(exported.has(name), `METRIC_NAMES lists ${name} and /metrics has it`);
    const { plain } = loadGroups();
    for (const r of plain.flatMap((g) => g.rules)) {
      const used = metricsIn(r.expr);
      assert.ok(used.length > 0, `${r.alert} uses some metric`);
      for (const m of used) assert.ok(exported.has(m), `${r.alert} uses ${m}, which the agent does not export`);
    }
  } finally {
    await server.close();
  }
});

test('the metric-name extraction itself: functions, labels and strings are not metrics', () => {
  assert.deepEqual(metricsIn('sum by (instance, kind) (rate(tapio_x_total{reason!~"a|b"}[5m])) > 0 and foo_bar == 1').sort(),
    ['foo_bar', 'tapio_x_total']);
});
