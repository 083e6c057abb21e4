// Secrets sent both ways (request and response headers, query strings, cookies, bodies) over HTTP/1.1 and HTTP/2
// with real Node peers never appear in any RequestRecord field, even with every header and the bodies captured:
// every record is stringified and grepped for every secret.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { requestToSpan } from '../../src/export/records';
import { ProtocolSession } from '../../src/protocols/session';
import { recordingProxy, replay, type Recording } from './peers';

const SECRETS = {
  bearer: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXNlY3JldA',
  basic: 'Ym9iOmh1bnRlcjI=',
  cookie: 'sessid-9f8e7d6c5b4a',
  setCookie: 'refresh-1a2b3c4d5e6f',
  apiKey: 'ak_live_5up3r53cr3t',
  queryToken: 'qt-0123456789abcdef',
  queryPassword: 'pw-hunter2-hunter2',
  bodyPassword: 'bodypass-777777',
  responseToken: 'resp-token-abcabcabc',
  proxyAuth: 'cHJveHk6cHJveHlwYXNz',
};
const everyHeader = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization', 'x-request-id', 'content-type', 'x-session-token'];

function handler(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void {
  req.resume();
  req.on('end', () => {
    res.setHeader('set-cookie', `refresh=${SECRETS.setCookie}; HttpOnly`);
    res.setHeader('x-session-token', SECRETS.responseToken);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, access_token: SECRETS.responseToken }));
  });
}

async function sendSecrets(port: number, version: 1 | 2): Promise<void> {
  const path = `/login?user=bob&token=${SECRETS.queryToken}&password=${SECRETS.queryPassword}`;
  const headers = {
    authorization: `Bearer ${SECRETS.bearer}`, cookie: `sessid=${SECRETS.cookie}; theme=dark`, 'x-api-key': SECRETS.apiKey,
    'proxy-authorization': `Basic ${SECRETS.proxyAuth}`, 'x-request-id': 'req-1', 'content-type': 'application/x-www-form-urlencoded',
  };
  const body = `user=bob&password=${SECRETS.bodyPassword}&note=${encodeURIComponent(`Basic ${SECRETS.basic}`)}`;
  if (version === 1) {
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false }, (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', reject);
      req.end(body);
    });
    return;
  }
  const client = http2.connect(`http://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) => {
    const req = client.request({ ':method': 'POST', ':path': path, ...headers });
    req.on('error', reject); req.on('close', () => resolve()); req.resume(); req.end(body);
  });
  client.close();
}

for (const version of [1, 2] as const) {
  test(`HTTP/${version}: no secret sent either way appears in any record field`, async () => {
    const server = version === 1 ? http.createServer(handler) : http2.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const proxy = await recordingProxy((server.address() as net.AddressInfo).port);
    let conns: Recording[];
    try {
      await sendSecrets(proxy.port, version);
      await proxy.idle();
      conns = proxy.connections;
    } finally {
      await proxy.close();
      server.close();
    }
    const wire = Buffer.concat(conns.flat().map((c) => c.data)).toString('latin1');
    for (const [name, secret] of Object.entries(SECRETS)) {
      if (name !== 'basic' && version === 1) assert.ok(wire.includes(secret), `${name} really went over the wire`);
    }
    for (const role of ['client', 'server'] as const) {
      const r = replay(conns, role, { captureHeaders: everyHeader, captureBodyBytes: 4096 });
      assert.equal(r.records.length, 1);
      const rec = r.records[0]!;
      assert.ok(rec.requestHeaders?.['x-request-id'] === 'req-1', 'ordinary headers are captured as they are');
      assert.ok(rec.requestBody?.includes('user=bob'), 'bodies are captured when configured');
      assert.ok(rec.target!.startsWith('/login?user=bob&token=[REDACTED]'));
      const text = JSON.stringify(r.records, (k, v) => (typeof v === 'bigint' ? String(v) : v));
      for (const [name, secret] of Object.entries(SECRETS)) {
        assert.ok(!text.includes(secret), `${name} leaked into a record: ${text}`);
      }
    }
  });
}

test('a record becomes a span in the caller trace, with tracestate and the protocol version', () => {
  const s = new ProtocolSession('server');
  const req = 'GET /users/7 HTTP/1.1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\ntracestate: vendor=abc\r\n\r\n';
  s.push({ direction: 'recv', data: Buffer.from(req), length: req.length, timeNs: 10n });
  s.push({ direction: 'send', data: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), length: 38, timeNs: 20n });
  const [rec] = s.takeRequests();
  const span = requestToSpan(rec!, resourceFromAttributes({}));
  assert.equal(span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(span.parentSpanContext?.spanId, 'b7ad6b7169203331');
  assert.equal(span.spanContext().traceState?.get('vendor'), 'abc');
  assert.equal(span.attributes['network.protocol.version'], '1.1');
  assert.equal(span.attributes['http.route'], '/users/{id}');
  assert.equal(span.name, 'GET /users/{id}');
});
