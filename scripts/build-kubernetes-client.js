#!/usr/bin/env node
'use strict';
// Bundles the two parts of @kubernetes/client-node the agent uses, KubeConfig (credentials, TLS, auth plugins) and
// ListWatch (list, watch, relist on 410 Gone), into dist/vendor/kubernetes-client.js (src/identity/kubernetes/
// library.ts loads it). The package's entry point, and even its config.js alone, loads the whole generated API
// (every API group's client and types: 21 MB of source), which V8 keeps in the heap for good: ~26 MiB of the agent's
// memory in a cluster. The bundle holds only what those two reach (~6 MiB once loaded): the library's own code,
// unchanged, with its dependencies left in node_modules. Rebuilt when the installed version or this script changes.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const pkgDir = path.join(root, 'node_modules', '@kubernetes', 'client-node');
const out = path.join(root, 'dist', 'vendor', 'kubernetes-client.js');

const mtime = (f) => fs.statSync(f).mtimeMs;
if (fs.existsSync(out) && mtime(out) > mtime(path.join(pkgDir, 'package.json')) && mtime(out) > mtime(path.join(__dirname, 'build-kubernetes-client.js'))) process.exit(0);

const { dependencies } = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const dist = path.join(pkgDir, 'dist');
require('esbuild').buildSync({
  stdin: {
    contents: `export { KubeConfig } from ${JSON.stringify(path.join(dist, 'config.js'))};\n` +
      `export { ListWatch } from ${JSON.stringify(path.join(dist, 'cache.js'))};\n`,
    resolveDir: dist,
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: Object.keys(dependencies ?? {}), // loaded from node_modules as usual
  outfile: out,
  logLevel: 'warning',
  legalComments: 'inline', // the library's license headers stay with its code
  banner: { js: `// @kubernetes/client-node ${JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version}: ` +
    'KubeConfig and ListWatch and what they reach, bundled by scripts/build-kubernetes-client.js. Generated; do not edit.' },
});
