// OTLP KeyValue / AnyValue encoding straight from Tapio's flat attributes. The field order and the int/double rule
// are the OpenTelemetry serializer's (otlp-transformer's common-serializer), so the bytes can match it exactly.
//
// Copying bytes one by one is what costs (~3 ns a byte here, against ~16 ns for one TypedArray.set of a chunk), so
// as much as possible is written as whole pre-encoded chunks: each attribute key once per key; for the repeated
// field (e.g. LogRecord.attributes) the whole KeyValue of a string value seen before (event kinds, directions,
// container and pod names, addresses of busy peers: most values repeat), and for integers everything up to the
// varint. Both caches are bounded; a value that is not cached is written field by field.
import type { AttributeValue } from '../../core/event';
import { isInt64, ProtoWriter, varintSize32 } from './writer';

/** Attribute keys kept encoded; a node has a few hundred at most, the bound only guards against a key explosion. */
const MAX_CACHED_KEYS = 4096;
/** Whole KeyValues of string values kept, per key and in all (~100 bytes each, in shared slabs). */
const MAX_VALUES_PER_KEY = 256;
const MAX_CACHED_VALUES = 8192;
/** Once full, the value caches start over after this many misses, so values that stopped repeating (pods that went
 *  away) make room for the ones repeating now. */
const MISSES_BEFORE_RESTART = 4 * MAX_CACHED_VALUES;
/** A cached KeyValue must fit one-byte lengths (up to 127 bytes); longer values are written field by field. */
const MAX_CACHED_KV = 127;
const SLAB_BYTES = 64 * 1024;

const KEY_TAG = 0x0a; // KeyValue.key, field 1, length-delimited
const VALUE_TAG = 0x12; // KeyValue.value, field 2, length-delimited
const STRING_TAG = 0x0a; // AnyValue.string_value, field 1
const BOOL_TAG = 0x10; // AnyValue.bool_value, field 2, varint
const INT_TAG = 0x18; // AnyValue.int_value, field 3, varint
const DOUBLE_TAG = 0x21; // AnyValue.double_value, field 4, fixed64
const ARRAY_TAG = 0x2a; // AnyValue.array_value, field 5
const ARRAY_VALUES_TAG = 0x0a; // ArrayValue.values, field 1

/** Bytes an int64 varint takes (ten for negative numbers). */
function varintSize64(v: number): number {
  if (v < 0) return 10;
  if (v <= 0xffffffff) return varintSize32(v);
  let size = 1;
  while (v >= 128) { v = Math.floor(v / 128); size++; }
  return size;
}

/** One key's bytes: KeyValue.key tag, length, UTF-8. */
export function encodeKey(key: string): Uint8Array {
  const w = new ProtoWriter(16 + 3 * key.length);
  w.byte(KEY_TAG);
  w.string(key);
  return w.finish();
}

/** What is kept per attribute key. */
export interface KeyEntry {
  key: Uint8Array;
  /** The whole repeated-field KeyValue (tag, length, key, value) per string value; undefined when not cached. */
  strings: Map<string, Uint8Array> | undefined;
  /** Per varint size (1-10): the repeated field's tag, the KeyValue's length, the key, the AnyValue up to the
   *  varint; empty when the lengths do not fit one byte each. */
  ints: Uint8Array[];
}

export class AttributeEncoder {
  private readonly keys = new Map<string, KeyEntry>();
  private cachedValues = 0;
  private missesWhenFull = 0;
  private slab = new Uint8Array(SLAB_BYTES);
  private slabUsed = 0;
  /** A scratch writer for building chunks. */
  private readonly scratch = new ProtoWriter(256);

  /** `fieldTag`: the whole tag byte of the repeated KeyValue field whose values are cached whole (0x32 for
   *  LogRecord.attributes); other fields (the resource's, written once) are written field by field. */
  constructor(private readonly fieldTag = 0x32) {}

  /** The encoded key, from the cache (or made now and, while there is room, cached). */
  key(key: string): Uint8Array {
    return this.entry(key).key;
  }

  /** The key's entry: its encoded bytes and cached values (made now, and kept while there is room). */
  entry(key: string): KeyEntry {
    let e = this.keys.get(key);
    if (!e) {
      e = { key: encodeKey(key), strings: undefined, ints: [] };
      if (this.keys.size < MAX_CACHED_KEYS) {
        this.keys.set(key, e);
        e.strings = new Map();
      }
    }
    return e;
  }

  /** One attribute as a repeated KeyValue field `fieldTag` (the whole tag byte, e.g. 0x32 for LogRecord field 6). */
  write(w: ProtoWriter, fieldTag: number, key: string, value: AttributeValue | undefined): void {
    this.writeEntry(w, fieldTag, this.entry(key), value);
  }

  /** write() for a key whose entry the caller kept; returns the whole KeyValue's bytes when they came from (or
   *  went into) the value cache, so the caller may write them again for the same value without a lookup. */
  writeEntry(w: ProtoWriter, fieldTag: number, e: KeyEntry, value: AttributeValue | undefined): Uint8Array | undefined {
    const cacheable = fieldTag === this.fieldTag;
    switch (typeof value) {
      case 'string': {
        const strings = e.strings;
        if (cacheable && strings) {
          const whole = strings.get(value) ?? this.cacheString(e, strings, value);
          if (whole) {
            w.bytes(whole);
            return whole;
          }
        }
        this.writeString(w, fieldTag, e.key, value);
        return undefined;
      }
      case 'number':
        if (isInt64(value)) {
          const size = varintSize64(value);
          const prefix = cacheable ? (e.ints[size] ??= this.intPrefix(e.key, size)) : undefined;
          if (prefix && prefix.length > 0) {
            w.bytes(prefix);
            w.int64(value);
            return undefined;
          }
        }
        break;
      case 'boolean':
        break;
      default: { // arrays (and anything unexpected, written as an empty value like the SDK does): sized afterwards
        w.byte(fieldTag);
        const kv = w.beginMessage(1);
        w.bytes(e.key);
        w.byte(VALUE_TAG);
        const any = w.beginMessage(1);
        if (Array.isArray(value)) this.writeArray(w, value);
        w.endMessage(any);
        w.endMessage(kv);
        return undefined;
      }
    }
    // A number or boolean, field by field: every size is known up front.
    const anyLen = typeof value === 'boolean' ? 2 : isInt64(value) ? 1 + varintSize64(value) : 9;
    const kvLen = e.key.length + 1 + varintSize32(anyLen) + anyLen;
    w.ensure(12 + kvLen);
    w.byte(fieldTag);
    w.uint32(kvLen);
    w.bytes(e.key);
    w.byte(VALUE_TAG);
    w.uint32(anyLen);
    this.writeScalar(w, value);
    return undefined;
  }

  /** A KeyValue with a string value, field by field; lengths are guessed for ASCII and fixed afterwards. */
  private writeString(w: ProtoWriter, fieldTag: number, key: Uint8Array, value: string): void {
    const n = value.length;
    w.byte(fieldTag);
    const kv = w.beginMessage(varintSize32(key.length + 3 + varintSize32(n) + n));
    w.bytes(key);
    w.byte(VALUE_TAG);
    const any = w.beginMessage(varintSize32(1 + varintSize32(n) + n));
    w.byte(STRING_TAG);
    w.string(value);
    w.endMessage(any);
    w.endMessage(kv);
  }

  /** Encodes a string value's whole KeyValue and keeps it, when the caches have room and it is short enough. */
  private cacheString(e: KeyEntry, strings: Map<string, Uint8Array>, value: string): Uint8Array | undefined {
    if (this.cachedValues >= MAX_CACHED_VALUES) {
      if (++this.missesWhenFull >= MISSES_BEFORE_RESTART) this.restartValueCache();
      return undefined;
    }
    if (strings.size >= MAX_VALUES_PER_KEY || e.key.length + value.length > MAX_CACHED_KV) return undefined;
    const s = this.scratch;
    s.reset();
    this.writeString(s, this.fieldTag, e.key, value);
    if (s.pos > MAX_CACHED_KV) return undefined;
    const chunk = this.keep(s.buf, s.pos);
    strings.set(value, chunk);
    this.cachedValues++;
    return chunk;
  }

  /** The bytes before an int64 varint of `size` bytes; empty when a length would not fit one byte. */
  private intPrefix(key: Uint8Array, size: number): Uint8Array {
    const anyLen = 1 + size;
    const kvLen = key.length + 2 + anyLen;
    if (kvLen > 127) return new Uint8Array(0);
    const s = this.scratch;
    s.reset();
    s.byte(this.fieldTag);
    s.byte(kvLen);
    s.bytes(key);
    s.byte(VALUE_TAG);
    s.byte(anyLen);
    s.byte(INT_TAG);
    return this.keep(s.buf, s.pos);
  }

  /** A copy of `n` bytes in the current slab (one ArrayBuffer for many small chunks). */
  private keep(bytes: Uint8Array, n: number): Uint8Array {
    if (this.slabUsed + n > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const chunk = this.slab.subarray(this.slabUsed, this.slabUsed + n);
    chunk.set(bytes.subarray(0, n));
    this.slabUsed += n;
    return chunk;
  }

  private restartValueCache(): void {
    for (const e of this.keys.values()) e.strings?.clear();
    this.cachedValues = 0;
    this.missesWhenFull = 0;
  }

  /** Values cached whole, for tests: [cached now, the bound]. */
  valueCacheSize(): [number, number] {
    return [this.cachedValues, MAX_CACHED_VALUES];
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
