// HPACK header-block decoder (RFC 7541) for one direction of one HTTP/2 connection: static and dynamic table,
// table size updates, integer and string literals, Huffman. Sizes are bounded by the caller's limits.
//
// The dynamic table may be partly unknown: on a connection joined mid-way, or after a lost header block, entries
// inserted before we started (or in the lost bytes) are unknown. Entries inserted since are known and sit in front
// (newest first); HPACK evicts the oldest first, so the known part evolves exactly like a fresh table and the
// unknown tail is "whatever still fits behind it". A reference into the unknown tail yields an unknown field,
// never a wrong one. A size update to a size that leaves no room for an unknown entry makes the table exact again.
import { HpackError } from './errors';
import { huffmanDecode, latin1 } from './huffman';
import { STATIC_TABLE } from './static-table';

export { HpackError } from './errors';

export interface HeaderField { name: string; value: string }

export interface DecodedBlock {
  headers: HeaderField[];
  /** Fields whose name or value sat in the unknown part of the dynamic table: left out of `headers`. */
  unknownFields: number;
}

const ENTRY_OVERHEAD = 32;

interface Entry { field: HeaderField; size: number }

/** The static table as header fields: decoded blocks share these objects (and the dynamic table's), never copies;
 *  nothing downstream writes into a decoded field. */
const STATIC_FIELDS: readonly HeaderField[] = STATIC_TABLE.map(([name, value]) => ({ name, value }));

export class HpackDecoder {
  private entries: Entry[] = []; // newest first
  private size = 0;
  private maxSize: number;
  /** True when entries older than `entries` may exist that we never saw. */
  private tailUnknown = false;

  /**
   * @param allowedMaxSize the largest table size the peer may set (SETTINGS_HEADER_TABLE_SIZE, capped by our limit)
   */
  constructor(private allowedMaxSize = 4096) {
    this.maxSize = Math.min(4096, allowedMaxSize);
  }

  /** Whether the whole dynamic table is known (false after a mid-stream join or a lost block, until proven). */
  get exact(): boolean { return !this.tailUnknown; }

  /** Table byte size as RFC 7541 counts it (known entries only). */
  get tableSize(): number { return this.size; }

  setAllowedMaxSize(n: number): void { this.allowedMaxSize = n; }

  /** Forget what we know: every current entry is now of unknown content and position. */
  markUnknown(): void {
    this.entries = [];
    this.size = 0;
    this.tailUnknown = true;
    // The lost bytes may have resized the table: assume the largest allowed size. Holding on to entries the peer
    // has evicted is harmless (it never references them); evicting ones it still has would only cost errors.
    this.maxSize = this.allowedMaxSize;
  }

  /** Decodes one complete header block. On HpackError the table is left unknown (the caller counts it). */
  decode(block: Uint8Array): DecodedBlock {
    try {
      return this.decodeInner(block);
    } catch (err) {
      this.markUnknown();
      if (err instanceof HpackError) throw err;
      throw new HpackError(`malformed header block: ${(err as Error).message}`);
    }
  }

  private decodeInner(b: Uint8Array): DecodedBlock {
    const headers: HeaderField[] = [];
    let unknownFields = 0;
    let pos = 0;
    let sawField = false;
    const int = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1;
      let v = b[pos++]! & mask;
      if (v < mask) return v;
      let shift = 0;
      for (;;) {
        if (pos >= b.length) throw new HpackError('truncated integer');
        const byte = b[pos++]!;
        v += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if ((byte & 0x80) === 0) break;
        if (shift > 28) throw new HpackError('integer too large');
      }
      if (v > 0x7fffffff) throw new HpackError('integer too large');
      return v;
    };
    const str = (): string => {
      if (pos >= b.length) throw new HpackError('truncated string');
      const huffman = (b[pos]! & 0x80) !== 0;
      const len = int(7);
      if (pos + len > b.length) throw new HpackError('string longer than the block');
      const s = huffman ? huffmanDecode(b, pos, pos + len) : latin1(b, pos, pos + len);
      pos += len;
      return s;
    };
    while (pos < b.length) {
      const first = b[pos]!;
      if (first & 0x80) { // indexed field
        const idx = int(7);
        if (idx === 0) throw new HpackError('index 0');
        const e = this.lookup(idx);
        if (e) headers.push(e); else unknownFields++;
        sawField = true;
      } else if ((first & 0xe0) === 0x20) { // dynamic table size update
        if (sawField) throw new HpackError('table size update after a field');
        const n = int(5);
        if (n > this.allowedMaxSize) throw new HpackError(`table size update to ${n} above ${this.allowedMaxSize}`);
        this.resize(n);
      } else { // literal: with incremental indexing (01), without (0000) or never indexed (0001)
        const indexing = (first & 0xc0) === 0x40;
        const idx = int(indexing ? 6 : 4);
        let name: string | undefined;
        if (idx === 0) name = str();
        else {
          const e = this.lookup(idx);
          name = e?.name;
        }
        const value = str();
        if (name === undefined) {
          unknownFields++;
          if (indexing) this.insertUnknown();
        } else {
          const field: HeaderField = { name, value };
          headers.push(field);
          if (indexing) this.insert(field);
        }
        sawField = true;
      }
    }
    return { headers, unknownFields };
  }

  /** The field at a 1-based HPACK index; undefined when it lies in the unknown tail. */
  private lookup(idx: number): HeaderField | undefined {
    if (idx <= STATIC_FIELDS.length) return STATIC_FIELDS[idx - 1];
    const d = idx - STATIC_FIELDS.length - 1;
    if (d < this.entries.length) return this.entries[d]!.field;
    if (this.tailUnknown && d < Math.floor(this.allowedMaxSize / ENTRY_OVERHEAD)) return undefined;
    throw new HpackError(`index ${idx} beyond the dynamic table`);
  }

  private insert(field: HeaderField): void {
    const size = field.name.length + field.value.length + ENTRY_OVERHEAD;
    if (size > this.maxSize) { // an entry larger than the table empties it (RFC 7541 4.4)
      this.entries = [];
      this.size = 0;
      this.tailUnknown = false;
      return;
    }
    this.evictTo(this.maxSize - size);
    this.entries.unshift({ field, size });
    this.size += size;
    this.settleTail();
  }

  /** An entry of unknown name (and so unknown size) was inserted: nothing older can be placed any more. */
  private insertUnknown(): void {
    this.markUnknown();
  }

  private resize(n: number): void {
    this.maxSize = n;
    this.evictTo(n);
    this.settleTail();
  }

  private evictTo(limit: number): void {
    while (this.size > limit && this.entries.length > 0) {
      this.size -= this.entries.pop()!.size;
      this.tailUnknown = false; // a known entry went, so every older (unknown) one went before it
    }
  }

  /** No unknown entry can remain when even the smallest one would not fit behind the known ones. */
  private settleTail(): void {
    if (this.size + ENTRY_OVERHEAD > this.maxSize) this.tailUnknown = false;
  }
}
