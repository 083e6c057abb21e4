#!/usr/bin/env node
'use strict';
// Runs the compiled benchmarks (dist/bench/*.js) one after another; `npm run bench -- ring` runs those whose name
// contains a word. Benchmarks print tables; they never fail on a number.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dir = path.join(__dirname, '..', 'dist', 'bench');
const words = process.argv.slice(2);
const files = (fs.existsSync(dir) ? fs.readdirSync(dir) : [])
  .filter((f) => f.endsWith('.js') && (words.length === 0 || words.some((w) => f.includes(w))))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f}`);
  const r = spawnSync(process.execPath, [path.join(dir, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
