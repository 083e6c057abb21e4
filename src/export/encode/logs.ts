// ExportLogsServiceRequest written as protobuf straight from TapioEvents: no SDK log record per event, no size
// estimation pass. The resource and the instrumentation scope are encoded once per exporter, each event name and
// severity once per name, each attribute key once (attributes.ts); records are appended as events arrive into one
// buffer that every request reuses, and the request's header is written in front when it is taken. The logical
// content is what records.ts's eventToLogRecord + the official serializer produce, field for field in the same order
// (test/export/encode.test.ts compares bytes and decodes with the official definitions); the one difference:
// observed_time_unix_nano is taken once per append (the events of one delivery from a ring), not once per record.
import type { Attributes, TapioEvent } from '../../core/event';
import { AttributeEncoder } from './attributes';
import { RepeatedAttributes } from './repeats';
import { ProtoWriter, varintSize32 } from './writer';

const SEVERITY_NUMBER: Record<NonNullable<TapioEvent['severity']>, number> = { DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17 };
const MAX_CACHED_NAMES = 1024;

/** What is written once per event name: the `event.name` attribute (LogRecord field 6) and event_name (field 12);
 *  made once per append, everything after the attributes (the event.name attribute, the dropped count, the observed
 *  time, event_name); and what the last event of this name wrote (repeats.ts). */
interface NameChunks {
  attribute: Uint8Array;
  field: Uint8Array;
  tail: Uint8Array | undefined;
  tailEpoch: number;
  last: RepeatedAttributes;
}

export interface Scope {
  name: string;
  version?: string;
}

export class LogsEncoder {
  private readonly w = new ProtoWriter();
  private readonly attrs = new AttributeEncoder();
  private readonly names = new Map<string, NameChunks>();
  private readonly severities = new Map<string, Uint8Array>();
  /** ResourceLogs.resource (field 1) and ScopeLogs.scope (field 1), tag and length included. */
  private readonly resourceChunk: Uint8Array;
  private readonly scopeChunk: Uint8Array;
  /** Counts appends, so a name's tail (which holds the observed time) is remade once per append. */
  private observedEpoch = 0;
  /** Counts requests started in the writer's buffer: the bytes of an earlier one are gone (repeats.ts). */
  private generation = 0;
  /** Log records in the open request, whose body starts at headerRoom in the writer's buffer. */
  private records = 0;
  private readonly headerRoom: number;
  private observed: Uint8Array = new Uint8Array(9);
  /** The last event's name and severity with their chunks: a batch mostly holds runs of one kind. */
  private lastName: [string, NameChunks] | undefined;
  private lastSeverity: [string, Uint8Array] | undefined;
  private readonly resourceSchemaUrl: string | undefined;

  constructor(resourceAttributes: Attributes, scope: Scope, resourceSchemaUrl?: string) {
    const w = new ProtoWriter(4096);
    w.byte(0x0a);
    const res = w.beginMessage(2);
    for (const key in resourceAttributes) this.attrs.write(w, 0x0a, key, resourceAttributes[key]); // Resource.attributes
    w.byte(0x10); // Resource.dropped_attributes_count = 0, written as the serializer does
    w.byte(0);
    w.endMessage(res);
    this.resourceChunk = w.finish();
    w.reset();
    w.byte(0x0a);
    const sc = w.beginMessage(1);
    w.byte(0x0a); // InstrumentationScope.name
    w.string(scope.name);
    if (scope.version) {
      w.byte(0x12);
      w.string(scope.version);
    }
    w.endMessage(sc);
    this.scopeChunk = w.finish();
    this.resourceSchemaUrl = resourceSchemaUrl || undefined;
    this.headerRoom = 2 * (1 + 5) + this.resourceChunk.length + this.scopeChunk.length;
  }

  /** One request holding every event of the batch, as bytes the caller owns (no request may be open). */
  encode(events: readonly TapioEvent[], observedUnixNano = BigInt(Date.now()) * 1_000_000n): Uint8Array {
    if (this.records > 0) throw new Error('LogsEncoder.encode: a request is open (append/take)');
    this.append(events, 0, events.length, observedUnixNano);
    return this.take();
  }

  /** Log records in the open request. */
  get openRecords(): number {
    return this.records;
  }

  /**
   * Adds events[from, to) to the open request as log records observed now (or at observedUnixNano). An event that
   * cannot be encoded is left out (its bytes rolled back) and handed to `skipped`. Appending as events arrive lets
   * them die young: held in an array for the batch delay (200 ms), they outlived V8's young generation, and the old
   * one then had to be collected every few seconds.
   */
  append(events: readonly TapioEvent[], from: number, to: number, observedUnixNano = BigInt(Date.now()) * 1_000_000n,
    skipped?: (e: TapioEvent, error: Error) => void): void {
    const w = this.w;
    if (this.records === 0) {
      w.reset();
      this.generation++;
      w.pos = this.headerRoom; // the request's header goes in front once the body's length is known (take)
    }
    this.observedEpoch++;
    const obs = new ProtoWriter(9);
    obs.byte(0x59); // observed_time_unix_nano, fixed64
    obs.fixed64(observedUnixNano);
    this.observed = obs.finish();
    for (let i = from; i < to; i++) {
      const e = events[i]!;
      const at = w.pos;
      try {
        w.byte(0x12); // ScopeLogs.log_records
        const lr = w.beginMessage(2);
        const repeats = this.writeRecord(e);
        const end = w.pos;
        w.endMessage(lr);
        if (w.pos !== end) repeats.moved(w.pos - end); // the length took another size than reserved: the body moved
        this.records++;
      } catch (err) {
        w.pos = at;
        skipped?.(e, err as Error);
      }
    }
  }

  /** The open request's bytes, which the caller owns (empty with no records, like the serializer); the next append
   *  starts a new request. */
  take(): Uint8Array {
    if (this.records === 0) return new Uint8Array(0);
    const w = this.w;
    const bodyEnd = w.pos;
    if (this.resourceSchemaUrl) {
      w.byte(0x1a); // ResourceLogs.schema_url
      w.string(this.resourceSchemaUrl);
    }
    const end = w.pos;
    const tailLen = end - bodyEnd;
    const bodyLen = bodyEnd - this.headerRoom;
    // ExportLogsServiceRequest.resource_logs { resource, scope_logs { scope, log_records... }, schema_url }
    const scopeLogsLen = this.scopeChunk.length + bodyLen;
    const resourceLogsLen = this.resourceChunk.length + 1 + varintSize32(scopeLogsLen) + scopeLogsLen + tailLen;
    const header = new ProtoWriter(32 + this.resourceChunk.length + this.scopeChunk.length);
    header.byte(0x0a);
    header.uint32(resourceLogsLen);
    header.bytes(this.resourceChunk);
    header.byte(0x12); // ResourceLogs.scope_logs
    header.uint32(scopeLogsLen);
    header.bytes(this.scopeChunk);
    const start = this.headerRoom - header.pos;
    w.buf.set(header.buf.subarray(0, header.pos), start);
    this.records = 0;
    return w.buf.slice(start, end);
  }

  /** Attribute values kept encoded whole, and the bound on them (attributes.ts). */
  cachedValues(): { values: number; bound: number } {
    const [values, bound] = this.attrs.valueCacheSize();
    return { values, bound };
  }

  /** Writes one LogRecord's fields; returns the name's RepeatedAttributes, which noted where it wrote. */
  private writeRecord(e: TapioEvent): RepeatedAttributes {
    const w = this.w;
    w.byte(0x09); // time_unix_nano, fixed64
    w.fixed64(e.timeUnixNano);
    w.bytes(this.severity(e.severity ?? 'INFO')); // severity_number and severity_text
    const name = this.name(e.name);
    // attributes: the event's own, then event.name (taking the place of an attribute of that name, as a spread does)
    const sawName = name.last.write(w, this.attrs, e.attributes, this.generation, name.attribute);
    if (name.tailEpoch !== this.observedEpoch) this.makeTail(name);
    w.bytes(sawName ? name.tail!.subarray(name.attribute.length) : name.tail!);
    return name.last;
  }

  /** The name's bytes after the attributes for this append: event.name, dropped count, observed time, event_name. */
  private makeTail(name: NameChunks): void {
    const t = new ProtoWriter(32 + name.attribute.length + name.field.length);
    t.bytes(name.attribute);
    t.byte(0x38); // dropped_attributes_count = 0
    t.byte(0);
    t.bytes(this.observed);
    t.bytes(name.field);
    name.tail = t.finish();
    name.tailEpoch = this.observedEpoch;
  }

  private severity(text: string): Uint8Array {
    if (text === this.lastSeverity?.[0]) return this.lastSeverity[1];
    let chunk = this.severities.get(text);
    if (!chunk) {
      const w = new ProtoWriter(64);
      const num = SEVERITY_NUMBER[text as keyof typeof SEVERITY_NUMBER] ?? SEVERITY_NUMBER.INFO;
      w.byte(0x10); // severity_number
      w.uint32(num);
      if (text) {
        w.byte(0x1a); // severity_text
        w.string(text);
      }
      chunk = w.finish();
      if (this.severities.size < 16) this.severities.set(text, chunk);
    }
    this.lastSeverity = [text, chunk];
    return chunk;
  }

  private name(eventName: string): NameChunks {
    if (eventName === this.lastName?.[0]) return this.lastName[1];
    let chunks = this.names.get(eventName);
    if (!chunks) {
      const w = new ProtoWriter(256);
      this.attrs.write(w, 0x32, 'event.name', eventName);
      const attribute = w.finish();
      w.reset();
      if (eventName) {
        w.byte(0x62); // event_name, field 12
        w.string(eventName);
      }
      chunks = { attribute, field: w.finish(), tail: undefined, tailEpoch: 0, last: new RepeatedAttributes() };
      if (this.names.size < MAX_CACHED_NAMES) this.names.set(eventName, chunks);
    }
    this.lastName = [eventName, chunks];
    return chunks;
  }
}
