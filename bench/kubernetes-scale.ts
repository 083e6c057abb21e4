// What one node's agent costs the API server, and itself, in a big cluster. A FAKE API server (in a child process,
// bench/kubernetes-fake-child.ts) holds a simulated cluster: N nodes x M pods, S Services each with an EndpointSlice.
// One agent (KubernetesMetadataSource) runs here against it. Prints tables: requests, objects and bytes at start-up,
// what churn elsewhere costs this agent, heap used by the agent, and lookup cost. Numbers go to docs/kubernetes-scale.md.
// Usage: node dist/bench/kubernetes-scale.js [nodes=1000] [podsPerNode=30] [podsOnAgentNode=110] [services=5000]
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { kubernetesConfigSchema } from '../src/config/kubernetes';
import { createKubernetesMetadata, type KubernetesMetadataSource } from '../src/identity/kubernetes';
import { writeKubeconfig } from '../test/identity/kubernetes-helpers';
import type { RequestLogEntry } from '../test/helpers/fake-apiserver';

if (typeof global.gc !== 'function') {
  // Heap numbers need a forced GC: re-run this script with --expose-gc.
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const [nodes = 1000, podsPerNode = 30, podsOnAgentNode = 110, services = 5000] = process.argv.slice(2).map(Number);
const endpointsPerService = 6;

function ask(child: ChildProcess, msg: object): Promise<any> {
  return new Promise((resolve) => { child.once('message', resolve); child.send(msg); });
}

function kb(bytes: number): string { return `${(bytes / 1024).toFixed(1)} KiB`; }
function mb(bytes: number): string { return `${(bytes / 1024 / 1024).toFixed(2)} MiB`; }

function heapUsed(): number {
  global.gc!();
  global.gc!();
  return process.memoryUsage().heapUsed;
}

function table(rows: Array<Record<string, string | number>>): void {
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(width[i]!)).join(' | ') + ' |';
  console.log(line(cols));
  console.log('|' + width.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(cols.map((c) => String(r[c]))));
  console.log();
}

function summarize(reqs: RequestLogEntry[]): Array<Record<string, string | number>> {
  const by = new Map<string, { n: number; items: number; bytes: number }>();
  for (const r of reqs) {
    const key = `${r.verb} ${r.verb === 'get' ? r.path.replace(/\/[^/]+$/, '/<name>').replace(/namespaces\/[^/]+/, 'namespaces/<ns>') : r.path}`;
    const s = by.get(key) ?? { n: 0, items: 0, bytes: 0 };
    s.n++; s.items += r.items; s.bytes += r.bytes;
    by.set(key, s);
  }
  return [...by].map(([k, s]) => ({ request: k, count: s.n, objects: s.items, bytes: kb(s.bytes) }));
}

/** Bytes and objects of one unfiltered list: what a cluster-wide pod informer would fetch on every node. */
function rawGet(url: string): Promise<{ bytes: number; items: number }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ bytes: body.length, items: (JSON.parse(body.toString()) as { items: unknown[] }).items.length });
      });
    }).on('error', reject);
  });
}

async function settle(source: KubernetesMetadataSource): Promise<number> {
  const t0 = process.hrtime.bigint();
  if (!(await source.whenSynced(120_000))) throw new Error('agent did not sync');
  // Owner lookups run after the pods arrive: wait until they stop (every lookup answered, none new for 100 ms).
  let last = -1;
  for (let quiet = 0, i = 0; quiet < 5 && i < 3000; i++) {
    const o = source.status().owners!;
    quiet = o.lookups === last && o.cached >= o.lookups ? quiet + 1 : 0;
    last = o.lookups;
    await new Promise((r) => setTimeout(r, 20));
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-k8s-bench-'));
  const child = fork(path.join(__dirname, 'kubernetes-fake-child.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const sources: KubernetesMetadataSource[] = [];
  try {
    console.log(`simulated cluster: ${nodes} nodes x ${podsPerNode} pods (${podsOnAgentNode} on the agent's node), ` +
      `${services} Services with one EndpointSlice of ${endpointsPerService} endpoints each; fake API server in a child process\n`);
    const { url } = await ask(child, { fill: { nodes, podsPerNode, podsOnAgentNode, services, endpointsPerService } });
    const kubeconfig = writeKubeconfig(dir, url);

    // Load the client library and schemas first, so the heap numbers are the agent's data, not code.
    require('@kubernetes/client-node');
    kubernetesConfigSchema.parse({});
    const results: Array<Record<string, string | number>> = [];
    for (const withServices of [false, true]) {
      const before = heapUsed();
      const config = kubernetesConfigSchema.parse({ kubeconfig, services: withServices });
      const source = createKubernetesMetadata({ config, nodeName: 'node-0', clusterName: 'bench', env: {} });
      sources.push(source);
      const ms = await settle(source);
      const after = heapUsed();
      const { stats } = await ask(child, { stats: true, reset: true });
      const st = source.status();
      console.log(`agent start-up, services ${withServices ? 'on' : 'off'} (synced in ${ms.toFixed(0)} ms, not a pass/fail number):`);
      table(summarize(stats.requests));
      results.push({ services: withServices ? 'on' : 'off', pods: st.objects.pods, 'services+slices': st.objects.services + st.objects.endpointSlices,
        owners: st.objects.owners, 'bytes received': mb(st.transfer!.bytesReceived), 'heap after - before': mb(after - before) });
      if (!withServices) { await source.stop(); sources.pop(); }
    }
    console.log('agent memory (heap after forced GC, objects cached):');
    table(results);

    const all = await rawGet(`${url}/api/v1/pods`);
    const mine = await rawGet(`${url}/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-0`);
    await ask(child, { stats: true, reset: true });
    console.log('one list of pods, this node only vs. the whole cluster (what a cluster-wide pod informer per node costs):');
    table([
      { list: 'spec.nodeName=node-0', objects: mine.items, bytes: mb(mine.bytes), [`x ${nodes} agents`]: mb(mine.bytes * nodes) },
      { list: 'all pods', objects: all.items, bytes: mb(all.bytes), [`x ${nodes} agents`]: mb(all.bytes * nodes) },
    ]);

    // Steady state: what changes elsewhere in the cluster cost this agent's open watches.
    const rows: Array<Record<string, string | number>> = [];
    for (const [kind, count] of [['pods-elsewhere', 1000], ['pods-here', 100], ['slices', 100]] as const) {
      await ask(child, { stats: true, reset: true });
      const events = (): number => sources[0]!.status().informers.reduce((a, i) => a + i.watchEvents, 0);
      const rx0 = sources[0]!.status().transfer!.bytesReceived;
      const ev0 = events();
      await ask(child, { churn: { kind, count } });
      await new Promise((r) => setTimeout(r, 500));
      const rx = sources[0]!.status().transfer!.bytesReceived - rx0;
      rows.push({ change: `${count} ${kind}`, 'watch events to this agent': events() - ev0, 'bytes to this agent': kb(rx),
        'per change': count ? `${(rx / count).toFixed(0)} B` : '-' });
    }
    console.log('churn: watch traffic reaching this one agent:');
    table(rows);

    const source = sources[0]!;
    const uids = source.status().objects.pods;
    const probe = [...Array(1000).keys()].map((i) => `11.0.${(i >> 8) & 255}.${i & 255}`);
    const n = 1_000_000;
    let hits = 0;
    let t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (source.serviceForIp(probe[i % probe.length]!)) hits++;
    const ipNs = Number(process.hrtime.bigint() - t) / n;
    t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (source.podByUid('no-such-uid')) hits++;
    const uidNs = Number(process.hrtime.bigint() - t) / n;
    console.log(`lookups (${uids} pods cached):`);
    table([{ lookup: 'serviceForIp', 'ns/op': ipNs.toFixed(0) }, { lookup: 'podByUid', 'ns/op': uidNs.toFixed(0) }]);
    void hits;
  } finally {
    for (const s of sources) await s.stop();
    child.send({ stop: true });
    await new Promise((r) => { child.once('exit', r); setTimeout(r, 2000).unref(); });
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
