// HTTP/1.1 edge cases fed in the exact chunks that matter: chunked bodies split anywhere, 100-continue, close-
// delimited responses, gaps skipped inside known bodies, a truncated head followed by later requests, responses
// seen before their requests (joined mid-way), the h2c upgrade handed to HTTP/2, and what is not HTTP at all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolSession, type CapturedChunk } from '../../src/protocols/session';
import { block, F, frame, hp, PREFACE, T } from './h2-build';

let now = 0n;
function c(direction: 'send' | 'recv', text: string | Uint8Array, missing = 0): CapturedChunk {
  const data = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  now += 1000n;
  return { direction, data, length: data.length + missing, timeNs: now };
}
const rows = (s: ProtocolSession) => s.takeRequests().map((r) => [r.method, r.target, r.status]);

test('a chunked response split at every byte, with extensions and trailers', () => {
  const s = new ProtocolSession('client');
  s.push(c('send', 'GET /c HTTP/1.1\r\nHost: a\r\n\r\n'));
  const resp = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
  for (const ch of resp) s.push(c('recv', ch));
  s.push(c('send', 'GET /next HTTP/1.1\r\n\r\n'));
  s.push(c('recv', 'HTTP/1.1 204 No Content\r\n\r\n'));
  const recs = s.takeRequests();
  assert.deepEqual(recs.map((r) => [r.target, r.status, r.responseBodyBytes]), [['/c', 200, 15], ['/next', 204, 0]]);
});

test('100-continue: the interim response is skipped, the body follows, the final status is reported', () => {
  const s = new ProtocolSession('server');
  s.push(c('recv', 'PUT /up HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n'));
  s.push(c('send', 'HTTP/1.1 100 Continue\r\n\r\n'));
  s.push(c('recv', '0123456789'));
  s.push(c('send', 'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok'));
  const [r] = s.takeRequests();
  assert.deepEqual([r!.method, r!.status, r!.requestBodyBytes, r!.responseBodyBytes, r!.side], ['PUT', 201, 10, 2, 'server']);
});

test('a response delimited by close completes on close; an unanswered request is counted lost', () => {
  const s = new ProtocolSession('client');
  s.push(c('send', 'GET /old HTTP/1.0\r\n\r\n'));
  s.push(c('recv', 'HTTP/1.0 200 OK\r\n\r\nbody until close'));
  s.close(now + 1n);
  assert.deepEqual(s.takeRequests().map((r) => [r.target, r.responseBodyBytes, r.protocolVersion]), [['/old', 16, '1.0']]);
  const t = new ProtocolSession('client');
  t.push(c('send', 'GET /never HTTP/1.1\r\n\r\n'));
  t.close(now);
  assert.equal(t.counters.lost.closed, 1);
});

test('bytes missing inside a Content-Length or chunk body are skipped exactly: nothing lost', () => {
  const s = new ProtocolSession('client');
  s.push(c('send', 'POST /big HTTP/1.1\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(100), 99_900));
  s.push(c('recv', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000\r\nab', 0x4000 - 2));
  s.push(c('recv', '\r\n0\r\n\r\n'));
  const [r] = s.takeRequests();
  assert.deepEqual([r!.target, r!.requestBodyBytes, r!.responseBodyBytes], ['/big', 100000, 0x4000]);
  assert.equal(s.counters.gapsSkippedExactly, 2);
  assert.equal(s.counters.desyncs, 0);
});

test('a truncated request head, then later requests: the lost one is counted and later ones pair correctly', () => {
  const s = new ProtocolSession('client');
  s.push(c('send', 'GET /one HTTP/1.1\r\nHost: a\r\n\r\n'));
  s.push(c('recv', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  s.push(c('send', 'GET /tw', 40)); // head cut: desync
  s.push(c('recv', 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')); // answer to /two: an orphan
  s.push(c('send', 'GET /three HTTP/1.1\r\n\r\n'));
  s.push(c('recv', 'HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n'));
  assert.deepEqual(rows(s), [['GET', '/one', 200], ['GET', '/three', 500]]);
  assert.equal(s.counters.lost.desync, 1, 'made 3 = reported 2 + lost 1');
  assert.equal(s.counters.resyncs, 1);
});

test('a truncated response head: its request is lost, the next pair is right', () => {
  const s = new ProtocolSession('client');
  s.push(c('send', 'GET /a HTTP/1.1\r\n\r\n'));
  s.push(c('recv', 'HTTP/1.1 2', 60));
  s.push(c('send', 'GET /b HTTP/1.1\r\n\r\n'));
  s.push(c('recv', 'HTTP/1.1 418 Teapot\r\nContent-Length: 0\r\n\r\n'));
  assert.deepEqual(rows(s), [['GET', '/b', 418]]);
  assert.equal(s.counters.lost.desync, 1);
});

test('joined mid-way: a response before any request is an orphan, then requests pair normally', () => {
  const s = new ProtocolSession('client');
  s.push(c('recv', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc'));
  s.push(c('send', 'DELETE /x/1 HTTP/1.1\r\n\r\n'));
  s.push(c('recv', 'HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n'));
  assert.deepEqual(rows(s), [['DELETE', '/x/1', 202]]);
  assert.equal(s.counters.orphanResponses, 1);
});

test('h2c upgrade: the HTTP/1 request becomes stream 1 and the rest is HTTP/2', () => {
  const s = new ProtocolSession('client');
  s.push(c('send', 'GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n'));
  s.push(c('recv', Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'),
    frame(T.SETTINGS, 0, 0), frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(8))), frame(T.DATA, F.END_STREAM, 1, Buffer.from('hi'))])));
  s.push(c('send', Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0),
    frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, block(hp.indexed(2), hp.indexed(6), hp.literalIdx(4, '/second')))])));
  s.push(c('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, block(hp.indexed(13)))));
  const recs = s.takeRequests();
  assert.deepEqual(recs.map((r) => [r.method, r.target, r.status, r.streamId, r.protocolVersion]),
    [['GET', '/up', 200, 1, '2'], ['GET', '/second', 404, 3, '2']]);
  assert.equal(s.protocol, 'http2');
});

test('an Upgrade answered with 200 keeps the connection HTTP/1', () => {
  const s = new ProtocolSession('client');
  s.push(c('send', 'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
  s.push(c('send', 'GET /after HTTP/1.1\r\n\r\n'));
  s.push(c('recv', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  assert.deepEqual(rows(s), [['GET', '/ws', 200], ['GET', '/after', 200]]);
});

test('what is not HTTP goes unsupported and is not parsed further', () => {
  const tls = new ProtocolSession('client');
  tls.push(c('send', Buffer.from('16030100c4010000c00303', 'hex')));
  assert.equal(tls.protocol, 'unknown', 'a few chunks of patience: a mid-way join may still line up');
  for (let i = 0; i < 10; i++) tls.push(c('send', Buffer.alloc(4000, 0x17)));
  assert.equal(tls.protocol, 'unsupported');
  const before = tls.counters.chunks;
  tls.push(c('send', 'GET / HTTP/1.1\r\n\r\n'));
  assert.equal(tls.counters.chunks, before, 'costs nothing more');
  const redis = new ProtocolSession('client');
  redis.push(c('send', '*1\r\n$4\r\nPING\r\n'));
  assert.equal(redis.takeRequests().length, 0);
});
