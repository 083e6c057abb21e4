// One event's attributes as LogRecord.attributes, reusing what the last event of the same name wrote. Events of one
// name mostly have the same keys in the same order, and most values repeat from one event to the next (the
// transport, the direction, the pod's identity): a run of attributes equal to the last event's is copied from that
// event's bytes, still in the request being written, with one copyWithin (each call costs ~16 ns here, so a few
// runs beat a dozen chunks); a changed value is written by the attribute encoder, with the key's entry and, for a
// string, its whole KeyValue kept per position.
import type { Attributes } from '../../core/event';
import type { AttributeEncoder, KeyEntry } from './attributes';
import type { ProtoWriter } from './writer';

const LOG_ATTRIBUTES_TAG = 0x32; // LogRecord.attributes, field 6

export class RepeatedAttributes {
  /** Per position, the last event's key, its entry, its value, and for a string its whole KeyValue. */
  private readonly keys: string[] = [];
  private readonly entries: KeyEntry[] = [];
  private readonly values: unknown[] = [];
  private readonly chunks: (Uint8Array | undefined)[] = [];
  /** Where the last event's attributes are in the writer's buffer (valid while the writer's generation is
   *  `generation`), how many it had, and where each began relative to `at`; offs[count] is their end. */
  private at = 0;
  private count = 0;
  private generation = -1;
  private offs: number[] = [];
  private next: number[] = [];

  /**
   * Writes the attributes at the writer's position; `generation` changes whenever the writer's buffer starts a new
   * request (the last event's bytes are gone then). Returns true when the attributes hold `event.name` (written as
   * `nameAttribute`, in its place, as an object spread would).
   */
  write(w: ProtoWriter, enc: AttributeEncoder, attributes: Attributes, generation: number, nameAttribute: Uint8Array): boolean {
    const start = w.pos;
    const prevCount = this.generation === generation ? this.count : 0; // attributes we may copy from
    let sawName = false;
    let i = 0;
    let run = -1; // the first of the attributes equal to the last event's, not copied yet
    try {
      for (const key in attributes) {
        const value = attributes[key];
        if (key === 'event.name') {
          if (run >= 0) this.copy(w, run, i, start);
          run = -1;
          w.bytes(nameAttribute);
          sawName = true;
          continue;
        }
        if (i < prevCount && this.keys[i] === key && this.values[i] === value && typeof value !== 'object') {
          if (run < 0) run = i;
          i++;
          continue;
        }
        if (run >= 0) this.copy(w, run, i, start);
        run = -1;
        this.next[i] = w.pos - start;
        if (this.keys[i] !== key) {
          this.keys[i] = key;
          this.entries[i] = enc.entry(key);
          this.chunks[i] = undefined;
        }
        const chunk = this.chunks[i];
        if (chunk !== undefined && this.values[i] === value) {
          w.bytes(chunk);
        } else {
          const written = enc.writeEntry(w, LOG_ATTRIBUTES_TAG, this.entries[i]!, value);
          this.values[i] = value;
          this.chunks[i] = written;
        }
        i++;
      }
      if (run >= 0) this.copy(w, run, i, start);
    } catch (e) {
      this.generation = -1; // the positions may now describe this event while the offsets describe the last one
      throw e;
    }
    this.next[i] = w.pos - start;
    const offs = this.offs;
    this.offs = this.next;
    this.next = offs;
    this.at = start;
    this.count = i;
    // With event.name among them, the offsets skip its bytes: start afresh with the next event.
    this.generation = sawName ? -1 : generation;
    return sawName;
  }

  /** The record holding the last attributes moved by `delta` bytes (its length took another size than reserved). */
  moved(delta: number): void {
    this.at += delta;
  }

  /** Copies the last event's attributes [from, to) to the writer's position; notes where each now begins. */
  private copy(w: ProtoWriter, from: number, to: number, start: number): void {
    const src = this.at + this.offs[from]!;
    const end = this.at + this.offs[to]!;
    w.ensure(end - src);
    const dest = w.pos;
    w.buf.copyWithin(dest, src, end);
    w.pos = dest + (end - src);
    const shift = dest - start - this.offs[from]!;
    for (let j = from; j < to; j++) this.next[j] = this.offs[j]! + shift;
  }
}
