// Scenarios shared by the capture tests of both hook plans: real peers over loopback whose every byte is known.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Running } from '../collect';
import { Recorder, piecesMatch } from './recorder';

const SHAPES_PY = path.join(__dirname, '..', '..', '..', '..', 'test', 'collectors', 'requests', 'shapes.py');

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** A request sent with send() and a 150-iovec sendmsg(); a response written with write() and a 200-buffer writev();
 *  read back with recv() and recvmsg(). Both ends' captured streams must equal the bytes sent, exactly. */
export async function syscallShapes(run: Running, recorder: Recorder): Promise<void> {
  const body1 = Buffer.from(Array.from({ length: 150 }, (_, i) => `iov${String(i).padStart(3, '0')}-payload.`).join(''));
  const body2 = Buffer.alloc(500, 'z');
  const head = Buffer.from(`POST /shapes HTTP/1.1\r\nHost: t\r\nContent-Length: ${body1.length + body2.length}\r\n\r\n`);
  const request = Buffer.concat([head, body1, body2]);
  const respHead = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n');
  const respBody = Buffer.from(Array.from({ length: 200 }, (_, i) => `r${String(i).padStart(3, '0')}-body\n`).join(''));
  const response = Buffer.concat([respHead, respBody]);

  const server = net.createServer((s) => {
    let got = 0;
    s.on('data', (d) => {
      got += d.length;
      if (got < request.length) return;
      s.write(respHead); // write()
      s.cork();
      for (let i = 0; i < 200; i++) s.write(respBody.subarray(i * 10, (i + 1) * 10));
      s.uncork(); // one writev() of 200 buffers
    });
  });
  try {
    const port = await listen(server);
    const plan = [['send', head.toString('hex'), 1], ['sendmsg', body1.toString('hex'), 150], ['send', body2.toString('hex'), 1]];
    const out = await new Promise<string>((resolve, reject) => {
      execFile('python3', [SHAPES_PY, String(port), JSON.stringify(plan), String(response.length)], { timeout: 10_000 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const [clientPortLine, gotHex] = out.trim().split('\n');
    assert.ok(Buffer.from(gotHex!, 'hex').equals(response), 'the python client got the whole response');
    const clientPort = Number(clientPortLine);
    const done = () => {
      const c = recorder.find(clientPort, port);
      const s = recorder.find(port, clientPort);
      return !!c && !!s && Recorder.rebuild(c, 'send').length >= request.length && Recorder.rebuild(c, 'recv').length >= response.length
        && Recorder.rebuild(s, 'recv').length >= request.length && Recorder.rebuild(s, 'send').length >= response.length;
    };
    assert.ok(await run.waitFor(done, 8000), 'both ends of the connection were captured in full');
    const client = recorder.find(clientPort, port)!;
    const srv = recorder.find(port, clientPort)!;
    assert.equal(client.info.role, 'client');
    assert.equal(srv.info.role, 'server');
    assert.equal(client.info.protocol, 1, 'detected as HTTP/1');
    assert.ok(Recorder.rebuild(client, 'send').copied.equals(request), 'client send stream = request bytes');
    assert.ok(Recorder.rebuild(srv, 'recv').copied.equals(request), 'server recv stream = request bytes');
    assert.ok(Recorder.rebuild(srv, 'send').copied.equals(response), 'server send stream = response bytes');
    assert.ok(Recorder.rebuild(client, 'recv').copied.equals(response), 'client recv stream = response bytes');
    const syscalls = (c: typeof client, dir: string) => new Set(c.chunks.filter((x) => x.direction === dir).map((x) => x.syscall));
    assert.deepEqual([...syscalls(client, 'send')].sort(), ['sendmsg', 'sendto']);
    assert.deepEqual([...syscalls(client, 'recv')].sort(), ['recvfrom', 'recvmsg']);
    assert.ok(syscalls(srv, 'send').has('writev'), `server sent with ${[...syscalls(srv, 'send')]}`);
    assert.ok(syscalls(srv, 'recv').has('read'));
  } finally {
    server.close();
  }
}

/** A 300 KB body, beyond the per-syscall bound: every byte either arrives at its offset or is counted as a gap. */
export async function truncatedBodies(run: Running, recorder: Recorder): Promise<void> {
  const http = await import('node:http');
  const body = Buffer.alloc(300_000);
  for (let i = 0; i < body.length; i++) body[i] = 97 + (i % 26);
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  try {
    const port = await listen(server as unknown as net.Server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let clientPort = 0;
    let written = 0;
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: `/big/${i}`, agent, headers: { 'content-length': body.length } }, (res) => {
          res.resume();
          res.on('end', () => { clientPort = req.socket!.localPort!; written = req.socket!.bytesWritten; resolve(); });
        });
        req.on('error', reject);
        req.end(body);
      });
    }
    agent.destroy();
    const done = () => Recorder.rebuild(recorder.find(port, clientPort), 'recv').length >= written
      && Recorder.rebuild(recorder.find(clientPort, port), 'send').length >= written;
    assert.ok(await run.waitFor(done, 8000), 'both ends accounted for every byte sent');
    const c = Recorder.rebuild(recorder.find(clientPort, port), 'send');
    const s = Recorder.rebuild(recorder.find(port, clientPort), 'recv');
    for (const r of [c, s]) {
      assert.equal(r.length, written, 'copied + gaps = bytes on the wire');
      assert.equal(r.copied.length + r.gapBytes, written);
      assert.ok(r.gapBytes > 0, 'the bound left bytes uncopied, and they are counted');
      assert.ok(r.copied.subarray(0, 16).toString() === 'POST /big/0 HTTP', 'the stream starts with the first request line');
    }
    // The copied pieces on each side are the same bytes of the one stream.
    const clientStream = Buffer.alloc(written);
    for (const p of c.pieces) p.data.copy(clientStream, p.at);
    const covered = new Uint8Array(written);
    for (const p of c.pieces) covered.fill(1, p.at, p.at + p.data.length);
    for (const p of s.pieces) {
      for (let i = 0; i < p.data.length; i++) {
        if (covered[p.at + i] && clientStream[p.at + i] !== p.data[i]) assert.fail(`server byte ${p.at + i} differs from the client's`);
      }
      // Body bytes are known: check them where the piece is inside a body.
    }
    const bodyStart = c.copied.indexOf('\r\n\r\n') + 4;
    assert.equal(piecesMatch({ ...c, pieces: c.pieces.filter((p) => p.at >= bodyStart && p.at + p.data.length <= bodyStart + body.length) }, body, bodyStart), undefined);
  } finally {
    server.close();
  }
}
