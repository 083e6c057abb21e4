// `npm run lint` is part of the suite: typescript-eslint, the layering rules between src/ rooms and clang-format all
// pass on the tree. And the layering rules are live: imports that point up the data flow (observe -> cli), a cycle,
// or the native addon used outside src/kernel each fail dependency-cruiser with the rule's name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const DEPCRUISE = path.join(ROOT, 'node_modules/.bin/depcruise');

test('npm run lint passes on the tree (eslint, layering, clang-format)', { timeout: 300_000 }, () => {
  const r = spawnSync('bash', ['scripts/lint.sh'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm run lint failed:\n${r.stdout}\n${r.stderr}`);
});

/** Runs the project's dependency rules over a small tree of files written for the case. */
function cruise(files: Record<string, string>): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-layering-'));
  try {
    fs.copyFileSync(path.join(ROOT, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'node16', strict: true } }));
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    const r = spawnSync(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: dir, encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('an import from src/observe into src/cli fails the layering rules', () => {
  const r = cruise({
    'src/cli/summary.ts': 'export const x = 1;\n',
    'src/observe/format.ts': "import { x } from '../cli/summary';\nexport const y = x;\n",
  });
  assert.notEqual(r.status, 0, r.output);
  assert.match(r.output, /observe-imports-only-.*src\/observe\/format\.ts → src\/cli\/summary\.ts/);
});

test('the same files with the arrow pointing down pass', () => {
  const r = cruise({
    'src/observe/format.ts': 'export const y = 1;\n',
    'src/cli/summary.ts': "import { y } from '../observe/format';\nexport const x = y;\n",
  });
  assert.equal(r.status, 0, r.output);
});

test('a cycle, and the native addon used outside src/kernel, fail too', () => {
  const cycle = cruise({
    'src/core/a.ts': "import { b } from './b';\nexport const a = b;\n",
    'src/core/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
  });
  assert.notEqual(cycle.status, 0, cycle.output);
  assert.match(cycle.output, /no-circular/);
  const native = cruise({
    'src/kernel/native.ts': 'export const native = 1;\n',
    'src/collectors/x.ts': "import { native } from '../kernel/native';\nexport const y = native;\n",
  });
  assert.notEqual(native.status, 0, native.output);
  assert.match(native.output, /native-addon-only-from-kernel/);
});
