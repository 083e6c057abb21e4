// HTTP/2, HPACK and gRPC edge cases with frames built byte by byte: CONTINUATION after a 16384-byte HEADERS frame,
// interleaved streams, RST_STREAM, GOAWAY, trailers-only gRPC errors, a mid-way join, and a lost header block
// followed by later requests (never a wrong path), padding and table size updates.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolSession } from '../../src/protocols/session';
import { block, chunk, cut, F, frame, getRequest, grpcMessage, hp, PREFACE, T } from './h2-build';

const SETTINGS = frame(T.SETTINGS, 0, 0);
const OK = block(hp.indexed(8)); // :status 200
const status = (code: string) => block(hp.literalIdx(8, code));

function session(captureHeaders: string[] = []): ProtocolSession {
  const s = new ProtocolSession('client', { captureHeaders });
  s.push(chunk('send', PREFACE, SETTINGS));
  s.push(chunk('recv', SETTINGS));
  return s;
}

test('a header block split over HEADERS (16384 bytes) and CONTINUATION frames is assembled', () => {
  const s = session(['x-big']);
  const big = 'q'.repeat(40_000);
  const b = getRequest('/big', [hp.literal('x-big', big)]);
  const parts = [b.subarray(0, 16384), b.subarray(16384, 32768), b.subarray(32768)];
  s.push(chunk('send', frame(T.HEADERS, F.END_STREAM, 1, parts[0]), frame(T.CONTINUATION, 0, 1, parts[1])));
  s.push(chunk('send', frame(T.CONTINUATION, F.END_HEADERS, 1, parts[2])));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, OK)));
  const [r] = s.takeRequests();
  assert.equal(r!.target, '/big');
  assert.equal(r!.requestHeaders!['x-big'], big);
  assert.equal(s.protocol, 'http2');
});

test('interleaved concurrent streams answered in reverse order, with DATA and padding', () => {
  const s = session();
  for (const id of [1, 3, 5]) s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, getRequest(`/item/${id}`))));
  const padded = (id: number, body: string, end: boolean) =>
    frame(T.DATA, F.PADDED | (end ? F.END_STREAM : 0), id, Buffer.concat([Buffer.from([3]), Buffer.from(body), Buffer.alloc(3)]));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS, 5, status('404')), frame(T.HEADERS, F.END_HEADERS, 3, OK),
    padded(5, 'aa', false), padded(3, 'bbb', false), frame(T.HEADERS, F.END_HEADERS, 1, status('500')), padded(5, 'a', true)));
  s.push(chunk('recv', padded(1, 'cccc', true), padded(3, 'b', true)));
  const recs = s.takeRequests();
  assert.deepEqual(recs.map((r) => [r.target, r.status, r.responseBodyBytes, r.streamId]),
    [['/item/5', 404, 3, 5], ['/item/1', 500, 4, 1], ['/item/3', 200, 4, 3]]);
});

test('RST_STREAM: before a response the HTTP request is counted lost; a gRPC call gets CANCELLED', () => {
  const s = session();
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, getRequest('/slow'))));
  s.push(chunk('send', frame(T.RST, 0, 1, Buffer.from([0, 0, 0, 8]))));
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS, 3, block(hp.indexed(3), hp.indexed(6), hp.literalIdx(4, '/pkg.Svc/Call'), hp.literalIdx(31, 'application/grpc')))));
  s.push(chunk('send', frame(T.DATA, 0, 3, grpcMessage('hi'))));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS, 3, block(hp.indexed(8), hp.literalIdx(31, 'application/grpc')))));
  s.push(chunk('send', frame(T.RST, 0, 3, Buffer.from([0, 0, 0, 8]))));
  const recs = s.takeRequests();
  assert.equal(s.counters.lost.reset, 1);
  assert.deepEqual(recs.map((r) => [r.protocol, r.method, r.status, r.resetCode, r.requestMessages]), [['grpc', '/pkg.Svc/Call', 1, 8, 1]]);
});

test('GOAWAY: streams above the last stream id are counted lost, the others complete', () => {
  const s = session();
  for (const id of [1, 3, 5, 7]) s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, getRequest(`/g/${id}`))));
  const goaway = Buffer.alloc(8); goaway.writeUInt32BE(3, 0);
  s.push(chunk('recv', frame(T.GOAWAY, 0, 0, goaway)));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, OK), frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, OK)));
  assert.deepEqual(s.takeRequests().map((r) => r.target), ['/g/1', '/g/3']);
  assert.equal(s.counters.lost.goaway, 2);
});

test('trailers-only gRPC error: status and percent-decoded message from the only HEADERS', () => {
  const s = session();
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(3), hp.indexed(6), hp.literalIdx(4, '/protol7.Echo/Say'), hp.literalIdx(31, 'application/grpc'))),
    frame(T.DATA, F.END_STREAM, 1, grpcMessage('x'))));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block(hp.indexed(8), hp.literalIdx(31, 'application/grpc'),
    hp.literal('grpc-status', '5'), hp.literal('grpc-message', 'no%20such%20thing%3A%20%E2%9C%93')))));
  const [r] = s.takeRequests();
  assert.deepEqual([r!.protocol, r!.method, r!.status, r!.statusMessage, r!.responseMessages], ['grpc', '/protol7.Echo/Say', 5, 'no such thing: ✓', 0]);
  assert.equal(s.protocol, 'grpc');
});

test('gRPC status comes from the trailers, not the first response HEADERS; streaming lasts until both ends', () => {
  const s = session();
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(3), hp.indexed(6), hp.literalIdx(4, '/a.B/Stream'), hp.literalIdx(31, 'application/grpc')))));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(8), hp.literalIdx(31, 'application/grpc')))));
  s.push(chunk('recv', frame(T.DATA, 0, 1, Buffer.concat([grpcMessage('a'), grpcMessage('b').subarray(0, 3)]))));
  s.push(chunk('recv', frame(T.DATA, 0, 1, grpcMessage('b').subarray(3))));
  assert.equal(s.takeRequests().length, 0, 'not done at the first response headers');
  s.push(chunk('send', frame(T.DATA, F.END_STREAM, 1, grpcMessage('req'))));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block(hp.literal('grpc-status', '13'), hp.literal('grpc-message', 'boom')))));
  const [r] = s.takeRequests();
  assert.equal(r!.status, 13);
  assert.equal(r!.responseMessages, 2);
  assert.equal(r!.requestMessages, 1);
  assert.equal(r!.durationNs, 5000n, 'from the request HEADERS to the trailers, 5 chunks (1 us each) later');
});

test('joined mid-way: literal and static headers decoded, dynamic references left out and marked, never guessed', () => {
  const s = new ProtocolSession('client');
  // the first bytes are frames, no preface: stream 9 uses a dynamic entry (62) for user-agent we never saw
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 9, getRequest('/known', [hp.indexed(62)]))));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 9, OK)));
  // stream 11's :path is a dynamic reference: unknown, so the request cannot be reported
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 11, block(hp.indexed(2), hp.indexed(6), hp.indexed(63)))));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 11, OK)));
  // a frame for a stream that began before we joined is ignored
  s.push(chunk('recv', frame(T.DATA, F.END_STREAM, 7, Buffer.from('tail'))));
  const recs = s.takeRequests();
  assert.equal(s.counters.midStreamJoins, 1);
  assert.deepEqual(recs.map((r) => [r.target, r.status, r.partial]), [['/known', 200, true]]);
  assert.equal(s.counters.lost.headers_unknown, 1);
  assert.equal(s.protocol, 'http2');
});

test('a truncated header block, then later requests: no wrong path, and exact again once re-learnt', () => {
  const s = session();
  // stream 1 inserts :path /one into the table (index 62), but its bytes are cut: the table is now unknown
  s.push(cut(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block(hp.indexed(2), hp.indexed(6), hp.insertIdx(4, '/one'), hp.literal('pad', 'x'.repeat(50))))), 20));
  // stream 3 refers to index 62: the real encoder means /one, which we never decoded
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, block(hp.indexed(2), hp.indexed(6), hp.indexed(62)))));
  // stream 5 inserts /five: now index 62 is known again
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 5, block(hp.indexed(2), hp.indexed(6), hp.insertIdx(4, '/five')))));
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 7, block(hp.indexed(2), hp.indexed(6), hp.indexed(62)))));
  for (const id of [1, 3, 5, 7]) s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, OK)));
  const recs = s.takeRequests();
  assert.deepEqual(recs.map((r) => [r.streamId, r.target]), [[5, '/five'], [7, '/five']]);
  assert.equal(s.counters.hpackBlocksLost, 1);
  assert.equal(s.counters.lost.desync, 1, 'stream 1 lost with its block');
  assert.equal(s.counters.lost.headers_unknown, 1, 'stream 3 referenced what was lost');
});

test('a gap across frame boundaries: streams in flight lost, the direction resyncs at a chunk on a frame boundary', () => {
  const s = session();
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, getRequest('/a'))));
  const c = chunk('recv', frame(T.HEADERS, F.END_HEADERS, 1, OK), frame(T.DATA, 0, 1, Buffer.alloc(100)), frame(T.DATA, F.END_STREAM, 1, Buffer.alloc(10)));
  s.push({ ...c, data: c.data.subarray(0, 30), length: c.data.length + 500 }); // bytes lost beyond this chunk's frames
  s.push(chunk('recv', Buffer.from([1, 2, 3, 4, 5]))); // the tail of something: not a frame boundary
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, getRequest('/b'))));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, status('204'))));
  assert.deepEqual(s.takeRequests().map((r) => [r.target, r.status]), [['/b', 204]]);
  assert.equal(s.counters.lost.desync, 1);
  assert.equal(s.counters.desyncs, 1);
  assert.equal(s.counters.resyncs, 1);
});

test('DATA bytes lost inside a frame are skipped exactly; the gRPC count then stays unreported', () => {
  const s = session();
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(3), hp.indexed(6), hp.literalIdx(4, '/a.B/C'), hp.literalIdx(31, 'application/grpc')))));
  const data = chunk('send', frame(T.DATA, F.END_STREAM, 1, grpcMessage('z'.repeat(1000))));
  s.push(cut(data, 40));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(8), hp.literalIdx(31, 'application/grpc')))));
  s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block(hp.literal('grpc-status', '0')))));
  const [r] = s.takeRequests();
  assert.equal(r!.status, 0);
  assert.equal(r!.requestMessages, undefined);
  assert.equal(r!.requestBodyBytes, 1005);
  assert.equal(s.counters.gapsSkippedExactly, 1);
  assert.equal(s.counters.desyncs, 0);
});

test('a table size update to 0 evicts everything: later references are errors, counted, not guesses', () => {
  const s = session();
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block(hp.indexed(2), hp.indexed(6), hp.insertIdx(4, '/x')))));
  s.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, block(hp.sizeUpdate(0), hp.indexed(2), hp.indexed(6), hp.indexed(62)))));
  for (const id of [1, 3]) s.push(chunk('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, OK)));
  assert.deepEqual(s.takeRequests().map((r) => r.target), ['/x']);
  assert.equal(s.counters.hpackErrors, 1);
  assert.equal(s.counters.lost.malformed, 1);
});

test('a server that speaks HTTP/2 first and a client that asks in HTTP/1 (a refused h2c Upgrade): the request is counted lost', () => {
  for (const role of ['client', 'server'] as const) {
    const s = new ProtocolSession(role);
    const toward = (fromClient: boolean): 'send' | 'recv' => ((role === 'client') === fromClient ? 'send' : 'recv');
    const settings = Uint8Array.from([0, 0, 0, 4, 0, 0, 0, 0, 0]); // the server preface: an empty SETTINGS frame
    const request = new TextEncoder().encode('GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n');
    s.push({ direction: toward(false), data: settings, length: settings.length, timeNs: 1n });
    s.push({ direction: toward(true), data: request, length: request.length, timeNs: 2n });
    s.close(3n);
    assert.equal(s.takeRequests().length, 0, 'nothing decoded from the mismatch');
    assert.equal(Object.values(s.counters.lost).reduce((a, b) => a + b, 0), 1, `${role}: made (1) = reported (0) + lost (1)`);
  }
});

test('capture stopping inside a request header block counts that request lost once; a cut-off trailer block does not', () => {
  // The kernel counts, after it lets a connection go, only the streams whose HEADERS frame header it saw itself
  // (bpf/include/l7_h2count.h): a request whose frame header was captured is this side's to report or count lost.
  const inFrame = session();
  const headers = frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, getRequest('/cut'));
  inFrame.push(chunk('send', headers.subarray(0, 12)));
  inFrame.close(1n, 'sampled');
  assert.equal(inFrame.counters.lost.sampled, 1, 'HEADERS frame header seen, its payload cut off');

  const awaitingContinuation = session();
  const b = getRequest('/split');
  awaitingContinuation.push(chunk('send', frame(T.HEADERS, F.END_STREAM, 3, b.subarray(0, 5))));
  awaitingContinuation.close(1n, 'sampled');
  assert.equal(awaitingContinuation.counters.lost.sampled, 1, 'HEADERS whole, its CONTINUATION not seen');

  const headerCut = session();
  headerCut.push(chunk('send', headers.subarray(0, 5)));
  headerCut.close(1n, 'sampled');
  assert.equal(headerCut.counters.lost.sampled, 0, 'frame header not whole: the kernel counts this one');

  const trailers = session();
  trailers.push(chunk('send', frame(T.HEADERS, F.END_HEADERS, 5, getRequest('/with-trailers')), frame(T.DATA, 0, 5, Buffer.from('x'))));
  trailers.push(chunk('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 5, block(hp.literal('x-t', 'y'))).subarray(0, 11)));
  trailers.close(1n, 'closed');
  assert.equal(trailers.counters.lost.closed, 1, 'the stream in flight, once; its cut-off trailers open nothing');
});
