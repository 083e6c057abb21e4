#!/usr/bin/env node
// Writes src/kernel/layouts.generated.ts from the BTF of bpf/.output/testing/layouts.bpf.o (the layout anchor,
// bpf/testing/layouts.bpf.c). Run through `npm run gen:layouts`, which builds bpf/ and dist/ first; commit the result.
// `--check` writes nothing and exits 1 with the differences when the committed file is stale.
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..');
const { ANCHOR_OBJECT, GENERATED_FILE, layoutDiff, renderLayoutsFromObject } = require(path.join(root, 'dist', 'src', 'kernel', 'layout-gen'));

const fresh = renderLayoutsFromObject(path.join(root, ANCHOR_OBJECT));
const target = path.join(root, GENERATED_FILE);
const committed = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
if (process.argv.includes('--check')) {
  const diff = layoutDiff(committed, fresh);
  if (diff.length) {
    console.error(`${GENERATED_FILE} is stale (run npm run gen:layouts):\n${diff.join('\n')}`);
    process.exit(1);
  }
  console.log(`${GENERATED_FILE} is up to date`);
} else if (committed === fresh) {
  console.log(`${GENERATED_FILE} is up to date`);
} else {
  fs.writeFileSync(target, fresh);
  console.log(`wrote ${GENERATED_FILE}`);
}
