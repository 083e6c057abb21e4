// The chart's Grafana dashboard: every metric a panel queries is one the agent really exports (scraped from a real
// observe server over a real, not started, Agent, as test/observe/alerts.test.ts does for the alert rules), every
// panel has a query, and the rows reserved for request and security panels are there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/config/load';
import { Agent } from '../../src/agent/agent';
import { fetchText } from '../../src/cli/status';
import { startObserveServer } from '../../src/observe';
import { CHART_DIR } from './helm';

interface Panel { type: string; title: string; targets?: Array<{ expr: string }> }

const dashboard = JSON.parse(fs.readFileSync(path.join(CHART_DIR, 'files', 'dashboard.json'), 'utf8')) as
  { panels: Panel[]; templating: { list: Array<{ query?: string }> } };

const KEYWORDS = /^(by|without|and|or|unless|on|ignoring|group_left|group_right|bool|offset|sum|avg|min|max|count|group|topk|bottomk|quantile)$/;

/** Metric names in a PromQL expression (not functions, keywords, label names, label values or ranges). */
export function metricsIn(expr: string): string[] {
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}').replace(/\[[^\]]*\]/g, '[]');
  const names = new Set<string>();
  for (const m of bare.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)) if (!m[2] && !KEYWORDS.test(m[1])) names.add(m[1]);
  for (const m of bare.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) for (const l of m[1].split(',')) names.delete(l.trim());
  return [...names];
}

test('every panel queries something, and the request and security rows have panels of their own', () => {
  const graphs = dashboard.panels.filter((p) => p.type !== 'row');
  assert.ok(graphs.length >= 12);
  for (const p of graphs) assert.ok(p.targets && p.targets.length > 0 && p.targets.every((t) => t.expr.trim()), p.title);
  const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
  for (const r of ['Agent health', 'Events', 'Drops', 'Exporter and spool']) assert.ok(rows.includes(r), r);
  for (const r of ['Requests (HTTP/1.1, HTTP/2, gRPC)', 'Security']) assert.ok(rows.includes(r), r);
  const queries = graphs.flatMap((p) => p.targets!.map((t) => t.expr)).join('\n');
  assert.match(queries, /http\.request\|grpc\.request/, 'a panel shows requests');
  assert.match(queries, /security/, 'a panel shows security events');
});

test('every metric the dashboard uses is on a live /metrics', async () => {
  const agent = new Agent({ config: parseConfig(''), sinks: [], log: () => undefined });
  const server = await startObserveServer({ address: '127.0.0.1:0', sources: { agent }, programRunStats: false });
  try {
    const text = (await fetchText(server.url, '/metrics', 5000)).body;
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const exprs = [...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr] as const)),
      ...dashboard.templating.list.filter((v) => v.query?.startsWith('label_values(')).map((v) =>
        ['variable', v.query!.replace(/^label_values\(([^,]+),.*$/, '$1')] as const)];
    const seen = new Set<string>();
    for (const [title, expr] of exprs) {
      const used = metricsIn(expr);
      assert.ok(used.length > 0, `${title} uses a metric`);
      for (const m of used) {
        seen.add(m);
        assert.ok(exported.has(m), `panel "${title}" uses ${m}, which the agent does not export`);
      }
    }
    for (const m of ['tapio_ready', 'tapio_events_dropped_total', 'tapio_events_received_total', 'tapio_exporter_spool_bytes']) {
      assert.ok(seen.has(m), `the dashboard shows ${m}`);
    }
  } finally {
    await server.close();
  }
});

test('the metric-name extraction: functions, labels, strings and ranges are not metrics', () => {
  assert.deepEqual(metricsIn('sum by (stage, reason) (rate(tapio_x_total{reason!~"a|b",instance=~"$i"}[5m])) / foo').sort(),
    ['foo', 'tapio_x_total']);
});
