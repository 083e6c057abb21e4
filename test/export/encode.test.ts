// The direct OTLP logs encoder (src/export/encode) against the official path: for many events with every
// attribute value type, unicode, empty values, each severity and odd timestamps, the bytes must equal what
// eventToLogRecord + the OpenTelemetry serializer write (same field order, observed time held fixed), and decoding
// them with the official generated definitions (otlp-proto-definitions) must give the same request.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { AttributeValue, TapioEvent } from '../../src/core/event';
import { LogsEncoder } from '../../src/export/encode/logs';
import { ProtoWriter } from '../../src/export/encode/writer';
import { eventToLogRecord, INSTRUMENTATION_SCOPE } from '../../src/export/records';
import { tapioResource, tapioResourceAttributes } from '../../src/export/resource';
import { decodeRequest } from './receiver';

const FIXED_NOW_MS = 1_790_000_000_123;

/** A deterministic pseudo-random stream, so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const STRINGS = ['', 'a', '/usr/bin/node', 'ünïcödé', '日本語のパス', 'emoji 🚀 here', 'x'.repeat(200), 'y'.repeat(20_000),
  'tab\tnewline\n', '\u0000nul', '10.0.0.7', '2001:db8::1'];
const NUMBERS = [0, 1, -1, 127, 128, 300, 16_383, 16_384, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1, -(2 ** 53), 2 ** 62,
  -(2 ** 63), 0.5, -3.25, 1e300, Number.MIN_VALUE, Number.NaN, Infinity, -Infinity, 2 ** 63];
const SEVERITIES = [undefined, 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
const NAMES = ['process.exec', 'network.tcp.close', 'security.file.open', 'évènement', 'x'.repeat(300)];

function randomEvent(r: () => number, i: number): TapioEvent {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const attributes: TapioEvent['attributes'] = {};
  const n = Math.floor(r() * 30);
  for (let k = 0; k < n; k++) {
    const key = k % 7 === 6 ? `ключ.${k}` : `attr.${Math.floor(r() * 40)}`;
    switch (Math.floor(r() * 6)) {
      case 0: attributes[key] = pick(STRINGS); break;
      case 1: attributes[key] = pick(NUMBERS); break;
      case 2: attributes[key] = r() < 0.5; break;
      case 3: attributes[key] = Array.from({ length: Math.floor(r() * 4) }, () => pick(STRINGS)); break;
      case 4: attributes[key] = Array.from({ length: Math.floor(r() * 4) }, () => pick(NUMBERS)); break;
      default: attributes[key] = Math.floor(r() * 1e9);
    }
  }
  if (i % 50 === 7) attributes['event.name'] = 'overridden by the event name';
  if (i % 61 === 3) attributes[''] = 'empty key';
  const times = [0n, 1n, 1_790_000_000_123_456_789n, 2n ** 63n, 2n ** 64n - 1n];
  return {
    name: pick(NAMES),
    timeUnixNano: i % 9 === 0 ? pick(times) : BigInt(FIXED_NOW_MS) * 1_000_000n + BigInt(Math.floor(r() * 1e9)),
    cgroupId: 1n,
    attributes,
    severity: pick(SEVERITIES),
  };
}

const resourceInputs = { env: {}, nodeName: 'node-ü-1', clusterName: 'prod', configured: { 'deployment.environment': 'test' } };

function officialBytes(events: readonly TapioEvent[]): Uint8Array {
  const resource = tapioResource(resourceInputs);
  const records = events.map((e) => eventToLogRecord(e, resource));
  return ProtobufLogsSerializer.serializeRequest(records)!;
}

function directBytes(encoder: LogsEncoder, events: readonly TapioEvent[]): Uint8Array {
  return encoder.encode(events, BigInt(FIXED_NOW_MS) * 1_000_000n);
}

test('the direct encoder writes the same bytes as the official serializer (many random batches)', (t) => {
  mock.method(Date, 'now', () => FIXED_NOW_MS); // the official path reads the observed time per record
  t.after(() => mock.restoreAll());
  const encoder = new LogsEncoder(tapioResourceAttributes(resourceInputs), INSTRUMENTATION_SCOPE);
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const events = Array.from({ length: 1 + Math.floor(r() * 300) }, (_, i) => randomEvent(r, i));
    const expected = Buffer.from(officialBytes(events));
    const actual = Buffer.from(directBytes(encoder, events)); // the same encoder, its buffer reused across batches
    assert.ok(actual.equals(expected), `seed ${seed}: ${actual.length} bytes, official ${expected.length}; ` +
      `first difference at ${actual.findIndex((b, i) => b !== expected[i])}`);
  }
});

test('decoded with the official definitions, the request holds every event as the official path sends it', (t) => {
  mock.method(Date, 'now', () => FIXED_NOW_MS);
  t.after(() => mock.restoreAll());
  const encoder = new LogsEncoder(tapioResourceAttributes(resourceInputs), INSTRUMENTATION_SCOPE);
  const r = rng(4242);
  const events = Array.from({ length: 2000 }, (_, i) => randomEvent(r, i));
  const ours = decodeRequest('logs', directBytes(encoder, events));
  assert.deepEqual(ours, decodeRequest('logs', officialBytes(events)));

  // And what a user would check in the collector: names, severities, times and attribute values survive.
  const records = ours.resourceLogs[0].scopeLogs[0].logRecords as any[];
  assert.equal(records.length, events.length);
  const resourceAttrs = Object.fromEntries(ours.resourceLogs[0].resource.attributes.map((a: any) => [a.key, a.value]));
  assert.deepEqual(resourceAttrs['k8s.node.name'], { stringValue: 'node-ü-1' });
  assert.equal(ours.resourceLogs[0].scopeLogs[0].scope.name, 'tapio');
  events.forEach((e, i) => {
    const rec = records[i];
    assert.equal(rec.eventName ?? '', e.name);
    assert.equal(rec.severityText, e.severity ?? 'INFO');
    assert.equal(BigInt(rec.timeUnixNano ?? 0), BigInt.asUintN(64, e.timeUnixNano), `event ${i} time`);
    const attrs = new Map((rec.attributes ?? []).map((a: any) => [a.key, a.value]));
    assert.deepEqual(attrs.get('event.name'), { stringValue: e.name });
    for (const [k, v] of Object.entries(e.attributes)) {
      if (k === 'event.name') continue;
      const got = attrs.get(k) as any;
      if (typeof v === 'string') assert.equal(got.stringValue ?? '', v, `event ${i} ${k}`);
      else if (typeof v === 'boolean') assert.equal(got.boolValue ?? false, v);
      else if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 2 ** 53) assert.equal(Number(got.intValue ?? 0), v);
      else if (typeof v === 'number' && !Number.isInteger(v)) assert.ok(Object.is(got.doubleValue, v) || (Number.isNaN(v) && Number.isNaN(got.doubleValue)));
      else if (Array.isArray(v)) assert.equal((got.arrayValue?.values ?? []).length, v.length);
    }
  });
});

test('repeated values are written from a bounded cache; past its bound, and with values of every length, the bytes stay the official ones', (t) => {
  mock.method(Date, 'now', () => FIXED_NOW_MS);
  t.after(() => mock.restoreAll());
  const encoder = new LogsEncoder(tapioResourceAttributes(resourceInputs), INSTRUMENTATION_SCOPE);
  const odd = ['é'.repeat(70), 'ü'.repeat(100), `${'a'.repeat(60)}日本`, 'b'.repeat(126), 'c'.repeat(127), 'd'.repeat(16_383),
    'e'.repeat(16_384), '🚀'.repeat(40)]; // UTF-8 lengths on both sides of the one- and two-byte length boundaries
  const longKey = `k.${'z'.repeat(140)}`;
  let distinct = 0;
  for (let round = 0; round < 18; round++) { // enough distinct values to fill the cache and start it over once
    const events = Array.from({ length: 2500 }, (_, i): TapioEvent => ({
      name: 'network.tcp.close', timeUnixNano: BigInt(i), cgroupId: 0n, attributes: {
        'network.peer.address': `10.${round}.${i >> 8}.${i & 255}`, // a new value each time: fills the cache
        'network.transport': 'tcp', // the same value each time: cached once
        'tapio.odd': odd[i % odd.length]!, [longKey]: i % 3 === 0 ? 'v' : i, 'process.pid': i * 7919,
      } }));
    distinct += events.length;
    const expected = Buffer.from(officialBytes(events));
    const actual = Buffer.from(directBytes(encoder, events));
    assert.ok(actual.equals(expected), `round ${round}: first difference at ${actual.findIndex((b, j) => b !== expected[j])}`);
  }
  const { values, bound } = encoder.cachedValues();
  assert.ok(distinct > bound && values > 0 && values <= bound, `${values} values cached (bound ${bound}) after ${distinct} distinct ones`);
});

test('records appended over several calls make the request the official serializer writes for all of them; a bad event is left out whole', (t) => {
  mock.method(Date, 'now', () => FIXED_NOW_MS);
  t.after(() => mock.restoreAll());
  const encoder = new LogsEncoder(tapioResourceAttributes(resourceInputs), INSTRUMENTATION_SCOPE, 'https://opentelemetry.io/schemas/1.24.0');
  const observed = BigInt(FIXED_NOW_MS) * 1_000_000n;
  const r = rng(77);
  for (let round = 0; round < 3; round++) { // the encoder's buffer is reused by the next request
    const events = Array.from({ length: 700 }, (_, i) => randomEvent(r, i));
    const bad = { ...events[5]!, timeUnixNano: 'not a bigint' as unknown as bigint };
    const skipped: TapioEvent[] = [];
    encoder.append(events, 0, 5, observed);
    encoder.append([bad], 0, 1, observed, (e) => skipped.push(e)); // fails halfway through its record
    encoder.append(events, 5, 300, observed);
    encoder.append(events, 300, 700, observed);
    assert.equal(encoder.openRecords, 700);
    assert.deepEqual(skipped, [bad]);
    const actual = Buffer.from(encoder.take());
    assert.equal(encoder.openRecords, 0);
    const resource = resourceFromAttributes(tapioResource(resourceInputs).attributes, { schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' });
    const expected = Buffer.from(ProtobufLogsSerializer.serializeRequest(events.map((e) => eventToLogRecord(e, resource)))!);
    assert.ok(actual.equals(expected), `round ${round}: ${actual.length} bytes, official ${expected.length}; ` +
      `first difference at ${actual.findIndex((b, i) => b !== expected[i])}`);
  }
  assert.equal(encoder.take().length, 0); // nothing open: an empty request, like the serializer's for no records
});

test('events of one name with repeating values (copied from the last such event) still give the official bytes', (t) => {
  mock.method(Date, 'now', () => FIXED_NOW_MS);
  t.after(() => mock.restoreAll());
  const encoder = new LogsEncoder(tapioResourceAttributes(resourceInputs), INSTRUMENTATION_SCOPE);
  const observed = BigInt(FIXED_NOW_MS) * 1_000_000n;
  const r = rng(9);
  const values: AttributeValue[] = ['tcp', 'ipv4', '10.0.0.5', 'é'.repeat(70), 443, 0, -1, 2 ** 40, 0.5, Number.NaN, true, false,
    ['a', 'b'], 'x'.repeat(300), ''];
  const keys = ['network.transport', 'network.type', 'network.local.address', 'network.local.port', 'process.pid', 'k8s.pod.name', 'tapio.flag'];
  for (let round = 0; round < 4; round++) {
    const events: TapioEvent[] = [];
    let last: Record<string, AttributeValue> = {};
    for (let i = 0; i < 1500; i++) {
      const attributes: Record<string, AttributeValue> = {};
      const shape = r() < 0.1 ? keys.slice(0, 1 + Math.floor(r() * keys.length)) : keys; // now and then fewer keys
      for (const k of shape) attributes[k] = r() < 0.7 && last[k] !== undefined ? last[k]! : values[Math.floor(r() * values.length)]!;
      if (r() < 0.02) attributes['event.name'] = 'in the attributes';
      if (r() < 0.02) attributes['tapio.tiny'] = 1; // another shape
      const name = r() < 0.8 ? 'network.tcp.close' : r() < 0.5 ? 'process.exec' : 'x';
      events.push({ name, timeUnixNano: BigInt(i), cgroupId: 0n, attributes, severity: r() < 0.9 ? undefined : 'WARN' });
      last = attributes;
    }
    events.push({ name: 'x', timeUnixNano: 1n, cgroupId: 0n, attributes: {} }); // a record shorter than 128 bytes
    // Fails halfway through its attributes, after values that differ from the event before and equal the one after.
    const badAttributes: Record<string, AttributeValue> = { ...events[700]!.attributes };
    Object.defineProperty(badAttributes, 'tapio.flag', { enumerable: true, get: () => { throw new Error('unreadable'); } });
    const bad: TapioEvent = { ...events[700]!, name: 'network.tcp.close', attributes: badAttributes };
    events[699] = { ...events[699]!, name: 'network.tcp.close', attributes: { 'network.transport': 'udp' } };
    events[700] = { ...events[700]!, name: 'network.tcp.close' };
    const skipped: TapioEvent[] = [];
    encoder.append(events, 0, 700, observed);
    encoder.append([bad], 0, 1, observed, (e) => skipped.push(e));
    encoder.append(events, 700, events.length, observed);
    assert.equal(skipped.length, 1);
    const actual = Buffer.from(encoder.take());
    const expected = Buffer.from(officialBytes(events));
    assert.ok(actual.equals(expected), `round ${round}: ${actual.length} bytes, official ${expected.length}; ` +
      `first difference at ${actual.findIndex((b, i) => b !== expected[i])}`);
  }
});

test('an empty batch is an empty request, like the serializer; a tiny buffer grows across a huge batch', () => {
  const encoder = new LogsEncoder({ 'service.name': 'tapio' }, { name: 'tapio' });
  assert.equal(encoder.encode([]).length, 0);
  const big = Array.from({ length: 5000 }, (_, i): TapioEvent => ({ name: 'process.exec', timeUnixNano: BigInt(i),
    cgroupId: 0n, attributes: { 'process.command_line': 'z'.repeat(500), 'process.pid': i } }));
  const decoded = decodeRequest('logs', encoder.encode(big));
  const recs = decoded.resourceLogs[0].scopeLogs[0].logRecords as any[];
  assert.equal(recs.length, 5000);
  assert.equal(recs[4999].attributes[1].value.intValue, '4999');
});

test('the writer moves a message body when its length takes more or fewer bytes than reserved', () => {
  for (const [guess, size] of [[1, 0], [1, 127], [1, 128], [2, 5], [2, 20_000], [4, 3], [4, 300_000]] as const) {
    const w = new ProtoWriter(8);
    w.byte(0xaa);
    const m = w.beginMessage(guess);
    for (let i = 0; i < size; i++) w.byte(i & 0xff);
    w.byte(0xbb);
    w.endMessage(m);
    const out = Buffer.from(w.finish());
    const expectLen = size + 1;
    let len = 0;
    let shift = 0;
    let p = 1;
    for (;;) {
      const b = out[p++]!;
      len |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) break;
    }
    assert.equal(len, expectLen, `guess ${guess}, size ${size}`);
    assert.equal(out.length, p + expectLen);
    assert.equal(out[out.length - 1], 0xbb);
    if (size > 0) assert.equal(out[p + size - 1], (size - 1) & 0xff);
  }
});
