#!/usr/bin/env node
'use strict';
// The `tapio` command. The code lives in dist/ (compiled from src/ by `npm run setup`).
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  console.error('tapio: not built yet; run `npm run setup` in ' + path.join(__dirname, '..'));
  process.exit(2);
}
require(main).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code ?? 0; },
  (err) => { console.error('tapio: ' + (err && err.stack ? err.stack : err)); process.exitCode = 1; },
);
