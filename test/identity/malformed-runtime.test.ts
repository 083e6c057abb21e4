// Malformed runtime answers are counted and skipped, never a crash. Real runtimes do not send bad answers on demand,
// so this test serves the Docker Engine API itself (a real HTTP server on a unix socket in a temp dir) with a mix of
// good and broken containers and event lines; this stand-in is the only fake here and says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { IdentityResolver } from '../../src/identity/index';
import { identityConfigSchema } from '../../src/config/identity';
import { DropCounters } from '../../src/core/drops';
import {
  containerFromCri, containerFromDockerInspect, containerFromDockerSummary, extrasFromCriStatus, sandboxFromCri,
} from '../../src/identity/runtimes/normalize';
import { waitFor } from '../harness/processes';

const goodId = randomBytes(32).toString('hex');
const lateId = randomBytes(32).toString('hex');

test('normalizers reject answers without what the API promises, and keep good ones', () => {
  const bad: unknown[] = [null, 42, 'x', [], {}, { Id: 'short' }, { Id: goodId.toUpperCase() }, { Id: 7 }];
  for (const b of bad) {
    assert.equal(containerFromDockerSummary(b, 'docker'), undefined, JSON.stringify(b));
    assert.equal(containerFromDockerInspect(b, 'docker'), undefined, JSON.stringify(b));
  }
  for (const b of [null, {}, { id: '' }, { id: '../../etc' }, { id: 5 }]) {
    assert.equal(containerFromCri(b, 'containerd'), undefined);
    assert.equal(sandboxFromCri(b), undefined);
  }
  const ok = containerFromDockerSummary({ Id: goodId, Names: ['/web'], Image: 'nginx:1', ImageID: 'sha256:' + 'b'.repeat(64),
    Labels: { a: 'b', n: 5 } }, 'docker');
  assert.deepEqual(ok, { id: goodId, name: 'web', runtime: 'docker', labels: { a: 'b' }, imageName: 'nginx:1',
    imageDigest: 'sha256:' + 'b'.repeat(64) });
  // Verbose CRI info that is not JSON costs the extras, not the container.
  assert.deepEqual(extrasFromCriStatus({ status: {}, info: { info: '{not json' } }), {});
});

test('a runtime sending broken containers and event lines: counted, skipped, good ones still used', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-bad-'));
  const socket = path.join(dir, 'docker.sock');
  let eventsRes: http.ServerResponse | undefined;
  // Stand-in for dockerd: nothing real answers badly on purpose.
  const server = http.createServer((req, res) => {
    if (req.url === '/_ping') {
      res.end('OK');
    } else if (req.url?.startsWith('/containers/json?')) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify([{ Id: goodId, Names: ['/good'], Image: 'img:1' }, { Id: 'nothex' }, 17, null]));
    } else if (req.url === `/containers/${lateId}/json`) {
      res.end(JSON.stringify({ Id: lateId, Name: '/late', Config: { Image: 'img:2' }, State: { Pid: 1234 } }));
    } else if (req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"this is": not json}\n[1,2]\n{"Type":"container"}\n');
      eventsRes = res;
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(socket, r));
  const drops = new DropCounters();
  const identity = new IdentityResolver({
    drops,
    config: identityConfigSchema.parse({ runtimes: { endpoints: [{ kind: 'docker', socket }] } }),
  });
  try {
    await identity.start();
    assert.equal(identity.runtimes.lookup(goodId)?.name, 'good');
    assert.equal(identity.runtimes.status()[0]!.state, 'connected');
    // 3 broken containers + 3 broken event lines.
    await waitFor('malformed answers to be counted', () => drops.total({ stage: 'identity', reason: 'runtime_answer_malformed' }) >= 6, 5000);
    // A good event after the garbage still works.
    eventsRes!.write(JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: lateId } }) + '\n');
    await waitFor('the good event', () => identity.runtimes.lookup(lateId) !== undefined, 5000);
    assert.equal(identity.runtimes.lookup(lateId)?.pid, 1234);
  } finally {
    identity.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
