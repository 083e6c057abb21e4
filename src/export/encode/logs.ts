// ExportLogsServiceRequest written as protobuf straight from TapioEvents: no SDK log record per event, no size
// estimation pass. The resource and the instrumentation scope are encoded once per exporter, each event name and
// severity once per name, each attribute key once (attributes.ts); a batch is written into one buffer that the next
// batch reuses. The logical content is what records.ts's eventToLogRecord + the official serializer produce, field
// for field in the same order (test/export/encode.test.ts compares bytes and decodes with the official
// definitions); the one difference: observed_time_unix_nano is taken once per batch, not once per record.
import type { Attributes, TapioEvent } from '../../core/event';
import { AttributeEncoder } from './attributes';
import { ProtoWriter } from './writer';

const SEVERITY_NUMBER: Record<NonNullable<TapioEvent['severity']>, number> = { DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17 };
const MAX_CACHED_NAMES = 1024;

/** What is written once per event name: the `event.name` attribute (LogRecord field 6) and event_name (field 12);
 *  and, made once per batch, everything after the attributes (dropped count, observed time, event_name). */
interface NameChunks {
  attribute: Uint8Array;
  field: Uint8Array;
  tail: Uint8Array | undefined;
  tailBatch: number;
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
  /** Counts batches, so a name's tail (which holds the batch's observed time) is remade once per batch. */
  private batch = 0;
  private observed: Uint8Array = new Uint8Array(9);
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
  }

  /** One request holding every event of the batch, as bytes the caller owns. */
  encode(events: readonly TapioEvent[], observedUnixNano = BigInt(Date.now()) * 1_000_000n): Uint8Array {
    if (events.length === 0) return new Uint8Array(0); // the serializer writes no ResourceLogs for no records
    const w = this.w;
    w.reset();
    this.batch++;
    const obs = new ProtoWriter(9);
    obs.byte(0x59); // observed_time_unix_nano, fixed64
    obs.fixed64(observedUnixNano);
    this.observed = obs.finish();
    w.byte(0x0a); // ExportLogsServiceRequest.resource_logs
    const rl = w.beginMessage(4);
    w.bytes(this.resourceChunk);
    w.byte(0x12); // ResourceLogs.scope_logs
    const sl = w.beginMessage(4);
    w.bytes(this.scopeChunk);
    for (let i = 0; i < events.length; i++) {
      w.byte(0x12); // ScopeLogs.log_records
      const lr = w.beginMessage(2);
      this.writeRecord(events[i]!);
      w.endMessage(lr);
    }
    w.endMessage(sl);
    if (this.resourceSchemaUrl) {
      w.byte(0x1a); // ResourceLogs.schema_url
      w.string(this.resourceSchemaUrl);
    }
    w.endMessage(rl);
    return w.finish();
  }

  /** Attribute values kept encoded whole, and the bound on them (attributes.ts). */
  cachedValues(): { values: number; bound: number } {
    const [values, bound] = this.attrs.valueCacheSize();
    return { values, bound };
  }

  private writeRecord(e: TapioEvent): void {
    const w = this.w;
    w.byte(0x09); // time_unix_nano, fixed64
    w.fixed64(e.timeUnixNano);
    w.bytes(this.severity(e.severity ?? 'INFO')); // severity_number and severity_text
    const name = this.name(e.name);
    // attributes: the event's own, then event.name (taking the place of an attribute of that name, as a spread does)
    const attributes = e.attributes;
    let sawName = false;
    for (const key in attributes) {
      if (key === 'event.name') {
        w.bytes(name.attribute);
        sawName = true;
      } else {
        this.attrs.write(w, 0x32, key, attributes[key]);
      }
    }
    if (!sawName) w.bytes(name.attribute);
    if (name.tailBatch !== this.batch) {
      const t = new ProtoWriter(16 + name.field.length);
      t.byte(0x38); // dropped_attributes_count = 0
      t.byte(0);
      t.bytes(this.observed);
      t.bytes(name.field);
      name.tail = t.finish();
      name.tailBatch = this.batch;
    }
    w.bytes(name.tail!);
  }

  private severity(text: string): Uint8Array {
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
    return chunk;
  }

  private name(eventName: string): NameChunks {
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
      chunks = { attribute, field: w.finish(), tail: undefined, tailBatch: 0 };
      if (this.names.size < MAX_CACHED_NAMES) this.names.set(eventName, chunks);
    }
    return chunks;
  }
}
