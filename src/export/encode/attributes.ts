// OTLP KeyValue / AnyValue encoding straight from Tapio's flat attributes. Each attribute key is encoded once
// (tag + length + UTF-8) and the chunk reused for every event; scalar values have their sizes computed up front,
// so a KeyValue is written in one pass with no moving of bytes. The field order and the int/double rule are the
// OpenTelemetry serializer's (otlp-transformer's common-serializer), so the bytes can match it exactly.
import type { AttributeValue } from '../../core/event';
import { isInt64, ProtoWriter, varintSize32 } from './writer';

/** Attribute keys kept encoded; a node has a few hundred at most, the bound only guards against a key explosion. */
const MAX_CACHED_KEYS = 4096;

const KEY_TAG = 0x0a; // KeyValue.key, field 1, length-delimited
const VALUE_TAG = 0x12; // KeyValue.value, field 2, length-delimited
const STRING_TAG = 0x0a; // AnyValue.string_value, field 1
const BOOL_TAG = 0x10; // AnyValue.bool_value, field 2, varint
const INT_TAG = 0x18; // AnyValue.int_value, field 3, varint
const DOUBLE_TAG = 0x21; // AnyValue.double_value, field 4, fixed64
const ARRAY_TAG = 0x2a; // AnyValue.array_value, field 5
const ARRAY_VALUES_TAG = 0x0a; // ArrayValue.values, field 1

/** UTF-8 length of a string; ASCII is counted without leaving JS. */
function utf8Length(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  }
  return n;
}

/** Bytes an int64 varint takes (ten for negative numbers). */
function varintSize64(v: number): number {
  if (v < 0) return 10;
  if (v <= 0xffffffff) return varintSize32(v);
  let size = 1;
  while (v >= 128) { v = Math.floor(v / 128); size++; }
  return size;
}

/** One key's bytes: KeyValue.key tag, length, UTF-8. */
export function encodeKey(key: string): Buffer {
  const len = Buffer.byteLength(key, 'utf8');
  const chunk = Buffer.allocUnsafe(1 + varintSize32(len) + len);
  const w = new ProtoWriter(chunk.length);
  w.byte(KEY_TAG);
  w.string(key);
  w.buf.copy(chunk, 0, 0, w.pos);
  return chunk;
}

export class AttributeEncoder {
  private readonly keys = new Map<string, Buffer>();

  /** The encoded key, from the cache (or made now and, while there is room, cached). */
  key(key: string): Buffer {
    let chunk = this.keys.get(key);
    if (!chunk) {
      chunk = encodeKey(key);
      if (this.keys.size < MAX_CACHED_KEYS) this.keys.set(key, chunk);
    }
    return chunk;
  }

  /** One attribute as a repeated KeyValue field `fieldTag` (the whole tag byte, e.g. 0x32 for LogRecord field 6). */
  write(w: ProtoWriter, fieldTag: number, key: string, value: AttributeValue | undefined): void {
    const keyChunk = this.key(key);
    let anyLen: number;
    let strLen = 0;
    switch (typeof value) {
      case 'string':
        strLen = utf8Length(value);
        anyLen = 1 + varintSize32(strLen) + strLen;
        break;
      case 'boolean':
        anyLen = 2;
        break;
      case 'number':
        anyLen = isInt64(value) ? 1 + varintSize64(value) : 9;
        break;
      default: { // arrays (and anything unexpected, written as an empty value like the SDK does): sized afterwards
        w.byte(fieldTag);
        const kv = w.beginMessage(1);
        w.bytes(keyChunk);
        w.byte(VALUE_TAG);
        const any = w.beginMessage(1);
        if (Array.isArray(value)) this.writeArray(w, value);
        w.endMessage(any);
        w.endMessage(kv);
        return;
      }
    }
    const kvLen = keyChunk.length + 1 + varintSize32(anyLen) + anyLen;
    w.ensure(12 + kvLen);
    w.byte(fieldTag);
    w.uint32(kvLen);
    w.bytes(keyChunk);
    w.byte(VALUE_TAG);
    w.uint32(anyLen);
    if (typeof value === 'string') {
      w.byte(STRING_TAG);
      w.stringOfLength(value, strLen);
    } else {
      this.writeScalar(w, value);
    }
  }

  /** An AnyValue's body for a string, boolean or number. */
  private writeScalar(w: ProtoWriter, value: string | number | boolean): void {
    if (typeof value === 'string') {
      w.byte(STRING_TAG);
      w.string(value);
    } else if (typeof value === 'boolean') {
      w.byte(BOOL_TAG);
      w.byte(value ? 1 : 0);
    } else if (isInt64(value)) {
      w.byte(INT_TAG);
      w.int64(value);
    } else {
      w.byte(DOUBLE_TAG);
      w.double(value);
    }
  }

  private writeArray(w: ProtoWriter, values: readonly unknown[]): void {
    w.byte(ARRAY_TAG);
    const arr = w.beginMessage(1);
    for (const item of values) {
      w.byte(ARRAY_VALUES_TAG);
      const any = w.beginMessage(1);
      if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') this.writeScalar(w, item);
      else if (Array.isArray(item)) this.writeArray(w, item);
      w.endMessage(any);
    }
    w.endMessage(arr);
  }
}
