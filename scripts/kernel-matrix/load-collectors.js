#!/usr/bin/env node
// Starts every collector in COLLECTORS for real on the running kernel (as `tapio run` does: the probe's unavailable
// kinds skipped up front), reads each one's status and stops it. Prints one JSON line per collector:
//   {"collector":"process","started":true,"available":true,"hooks":[{"name":"exec","chosen":"tp_btf","attempts":[...]}]}
// A collector that throws at start is reported with its error (started: false); the others still run. Exits 1 only
// if a collector neither started nor said why, i.e. crashed without a reason. Needs root and the host's dist/ build.
// Run inside the matrix VM:  scripts/kernel-matrix/run.sh 5.10 node scripts/kernel-matrix/load-collectors.js
'use strict';
const path = require('node:path');
const dist = path.join(__dirname, '..', '..', 'dist', 'src');
const { COLLECTORS } = require(path.join(dist, 'collectors'));
const { probeKernel, unavailableKinds } = require(path.join(dist, 'kernel', 'features'));
const { parseConfig } = require(path.join(dist, 'config', 'load'));
const { DropCounters } = require(path.join(dist, 'core', 'drops'));
const { helperReason } = require(path.join(dist, 'kernel', 'helper-probe'));

const firstLines = (s, n = 2) => String(s ?? '').split('\n').filter(Boolean).slice(0, n).join(' | ').slice(0, 400);

async function main() {
  const features = await probeKernel();
  const skip = unavailableKinds(features);
  const config = parseConfig('');
  let crashed = 0;
  for (const entry of COLLECTORS) {
    const row = { collector: entry.name, enabled: entry.enabled(config), started: false };
    const c = entry.create({ unavailableKinds: skip });
    const t0 = Date.now();
    try {
      await c.start({ config, emit: () => undefined, drops: new DropCounters(), log: () => undefined, unavailableKinds: skip });
      row.started = true;
      const st = c.status();
      row.available = st.available;
      row.hooks = st.hooks.map((h) => ({
        name: h.name,
        optional: h.optional,
        chosen: h.chosen?.kind,
        attempts: h.attempts.map((a) => ({ kind: a.kind, program: a.program, stage: a.stage, error: firstLines(a.error), reason: helperReason(a.error) })),
      }));
    } catch (e) {
      row.error = firstLines(e && e.message, 3);
      if (!row.error) crashed++;
    } finally {
      await c.stop().catch((e) => { row.stopError = firstLines(e && e.message); });
    }
    row.ms = Date.now() - t0;
    process.stdout.write(JSON.stringify(row) + '\n');
  }
  process.exitCode = crashed ? 1 : 0;
}

main().catch((e) => { process.stderr.write(`load-collectors: ${e.stack || e}\n`); process.exitCode = 1; });
