// Requests inside a real Docker container (needs root and dockerd; skips with the reason otherwise): busybox httpd
// and wget talk over the container's own loopback; the requests collector sees both ends, and the span that reaches
// the OTLP receiver carries the container's identity (container.id, name, runtime, image), resolved by cgroup id
// through the real identity layer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IdentityResolver } from '../../src/identity';
import { needsRoot } from '../helpers/root';
import { DockerHarness, HarnessSkip } from '../harness/runtimes';
import { requestsOn, startDockerRequestsAgent, until, type RequestsAgent } from './requests/agent';

let docker: DockerHarness | undefined;
let skipped = '';
let identity: IdentityResolver | undefined;
let ra: RequestsAgent | undefined;

before(async () => {
  if (needsRoot.skip) return;
  try {
    docker = await DockerHarness.start();
  } catch (e) {
    if (e instanceof HarnessSkip) { skipped = e.message; return; }
    throw e;
  }
  ({ ra, identity } = await startDockerRequestsAgent(docker.socket));
});

after(async () => {
  await ra?.stop();
  identity?.stop();
  await docker?.teardown().catch(() => undefined);
});

const PORT = 18500 + (process.pid % 400);

test('busybox httpd and wget in a Docker container: both ends reported, the span carries the container identity', needsRoot, async (t) => {
  if (!docker) return t.skip(skipped || 'dockerd not started');
  const c = await docker.run('tapio-requests-docker');
  const lostBefore = ra!.lost();
  docker.exec(c.id, ['sh', '-c', `mkdir -p /tmp/www && echo hi > /tmp/www/index.html && httpd -p 127.0.0.1:${PORT} -h /tmp/www && ` +
    `wget -q -O /dev/null http://127.0.0.1:${PORT}/index.html && (wget -q -O /dev/null http://127.0.0.1:${PORT}/nope/1 || true)`]);
  const made = ['GET /index.html 200', 'GET /nope/1 404'];
  await until('both requests on both ends', () => {
    const r = requestsOn(ra!.sink, PORT);
    return r.server.length + r.client.length + (ra!.lost() - lostBefore) >= 2 * made.length;
  });
  const r = requestsOn(ra!.sink, PORT);
  const triple = (e: (typeof r.server)[number]) => `${e.request!.method} ${e.request!.target} ${e.request!.status}`;
  assert.deepEqual(r.server.map(triple).sort(), made);
  assert.deepEqual(r.client.map(triple).sort(), made);
  for (const e of [...r.server, ...r.client]) {
    assert.equal(e.cgroupId, c.cgroupId, 'attributed to the container\'s cgroup');
    assert.equal(e.attributes['container.id'], c.id);
    assert.equal(e.attributes['container.runtime'], 'docker');
  }
  await until('the spans at the collector', () => ra!.receiver.spans().filter((s) => s.attributes['server.port'] === PORT).length >= 4);
  const span = ra!.receiver.spans().find((s) => s.attributes['server.port'] === PORT && s.kind === 2)!;
  assert.equal(span.attributes['container.id'], c.id);
  assert.equal(span.attributes['container.name'], 'tapio-requests-docker');
  assert.match(String(span.attributes['container.image.name']), /(^|\/)tapio\/busybox:test$/);
  assert.equal(span.resource['k8s.node.name'], 'test-node', 'the node is the resource');
  assert.equal(span.attributes['k8s.node.name'], undefined, 'not copied onto each span');
  assert.equal(span.attributes['http.request.method'], 'GET');
});
