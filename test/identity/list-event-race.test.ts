// A Docker list answer that crosses a container event on the way must not undo the event. dockerd's
// `/containers/json` answers with what exists when the request arrives, so a list begun just before a container was
// created answers without it; the start event meanwhile named the container, and the late list answer used to drop it again, leaving its
// events unnamed until the next periodic re-list (test/deploy/image.test.ts failed that way in CI). The timing cannot
// be forced on a real dockerd, so this test serves the Docker Engine API itself (a real HTTP server on a unix socket,
// holding the list answer back on purpose); this stand-in is the only fake here and says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RuntimeManager } from '../../src/identity/runtimes/manager';
import { waitFor } from '../helpers/wait';

const started = randomBytes(32).toString('hex'); // starts while a list is on its way
const removed = randomBytes(32).toString('hex'); // removed while a list is on its way
const steady = randomBytes(32).toString('hex');

test('a list answer older than a container event does not undo the event', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-race-'));
  const socket = path.join(dir, 'docker.sock');
  let eventsRes: http.ServerResponse | undefined;
  let lists = 0;
  let holdList: (() => void) | undefined;
  let listArrived: (() => void) | undefined;
  const running = new Set([removed, steady]);
  const summary = (id: string): object => ({ Id: id, Names: [`/c-${id.slice(0, 6)}`], Image: 'img:1' });
  // Stand-in for dockerd.
  const server = http.createServer((req, res) => {
    if (req.url === '/_ping') {
      res.end('OK');
    } else if (req.url?.startsWith('/containers/json?')) {
      // What is running when the request arrives is the answer, as dockerd makes it; later lists are held back.
      const answer = JSON.stringify([...running].map(summary));
      if (++lists === 1) {
        res.end(answer);
        return;
      }
      holdList = () => res.end(answer);
      listArrived?.();
    } else if (req.url === `/containers/${started}/json`) {
      res.end(JSON.stringify({ Id: started, Name: '/workload', Config: { Image: 'img:2' }, State: { Pid: 4321 } }));
    } else if (req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('\n');
      eventsRes = res;
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(socket, r));
  const runtimes = new RuntimeManager({ endpoints: [{ kind: 'docker', socket }] });
  try {
    await runtimes.start();
    assert.equal(runtimes.lookup(removed)?.name, `c-${removed.slice(0, 6)}`);
    // A re-list starts (the identity gate asks for one when a container's first exec is unnamed)...
    const arrived = new Promise<void>((r) => { listArrived = r; });
    const relist = runtimes.refresh(true);
    await arrived;
    // ...and while its answer is on the way, one container starts and another is removed.
    running.add(started);
    running.delete(removed);
    eventsRes!.write(JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: started } }) + '\n');
    eventsRes!.write(JSON.stringify({ Type: 'container', Action: 'destroy', Actor: { ID: removed } }) + '\n');
    await waitFor('the start event to be inspected', () => runtimes.lookup(started) !== undefined, 5000);
    assert.equal(runtimes.lookup(removed), undefined, 'the destroy event removed it');
    holdList!();
    await relist;
    assert.equal(runtimes.lookup(started)?.name, 'workload', 'the older list answer kept the started container');
    assert.equal(runtimes.lookup(started)?.pid, 4321);
    assert.equal(runtimes.lookup(removed), undefined, 'the older list answer did not bring the removed one back');
    assert.equal(runtimes.lookup(steady)?.name, `c-${steady.slice(0, 6)}`);
    // The next list is newer than both events: it decides again, as dockerd answers it.
    running.delete(started); // stopped with no event seen: only a list can tell
    const next = runtimes.refresh(true);
    await waitFor('the next list request', () => lists === 3, 5000);
    holdList!();
    await next;
    assert.equal(runtimes.lookup(started), undefined, 'a list newer than the event is believed');
  } finally {
    runtimes.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
