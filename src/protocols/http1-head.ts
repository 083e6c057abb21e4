// HTTP/1.x start lines and header sections: recognising them at the start of bytes (protocol detection, resync)
// and parsing a complete head into method/target/status and header fields.
import type { HeaderField } from './hpack/decoder';

export const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
const REQUEST_LINE = /^([A-Z]{3,7}) (\S+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function startsWithAscii(b: Uint8Array, s: string): boolean {
  if (b.length < s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[i] !== s.charCodeAt(i)) return false;
  return true;
}

/** 'yes' when b starts like an HTTP/1 request, 'no' when it cannot, 'more' when too few bytes to say. */
export function looksLikeRequest(b: Uint8Array): 'yes' | 'no' | 'more' {
  for (const m of METHODS) {
    const want = `${m} `;
    const n = Math.min(want.length, b.length);
    let same = true;
    for (let i = 0; i < n; i++) if (b[i] !== want.charCodeAt(i)) { same = false; break; }
    if (same) return b.length >= want.length + 1 ? (b[want.length] === 0x20 ? 'no' : 'yes') : 'more';
  }
  return 'no';
}

/** Same for a response status line (`HTTP/1.1 200`). */
export function looksLikeResponse(b: Uint8Array): 'yes' | 'no' | 'more' {
  const want = 'HTTP/1.';
  if (b.length < want.length + 5) {
    for (let i = 0; i < b.length && i < want.length; i++) if (b[i] !== want.charCodeAt(i)) return 'no';
    return 'more';
  }
  if (!startsWithAscii(b, want)) return 'no';
  const ok = (b[7] === 0x30 || b[7] === 0x31) && b[8] === 0x20 && b[9]! >= 0x31 && b[9]! <= 0x35;
  return ok ? 'yes' : 'no';
}

/** Index just past the blank line ending a head (CRLFCRLF, or bare LFLF), or -1. Searches from `from`. */
export function findHeadEnd(b: Uint8Array, from: number): number {
  for (let i = Math.max(from, 0); i < b.length; i++) {
    if (b[i] !== 0x0a) continue;
    if (i >= 1 && b[i - 1] === 0x0a) return i + 1;
    if (i >= 3 && b[i - 1] === 0x0d && b[i - 2] === 0x0a && b[i - 3] === 0x0d) return i + 1;
    if (i >= 2 && b[i - 1] === 0x0d && b[i - 2] === 0x0a) return i + 1;
  }
  return -1;
}

export interface RequestHead {
  kind: 'request';
  method: string;
  target: string;
  minor: number;
  headers: HeaderField[];
}

export interface ResponseHead {
  kind: 'response';
  status: number;
  minor: number;
  headers: HeaderField[];
}

/** Parses a complete head (start line + fields, without or with the final blank line); undefined if malformed. */
export function parseHead(text: string, expect: 'request' | 'response'): RequestHead | ResponseHead | undefined {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) { const l = lines[i]!; if (l.endsWith('\r')) lines[i] = l.slice(0, -1); }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const start = lines[0];
  if (start === undefined) return undefined;
  const headers: HeaderField[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith(' ') || line.startsWith('\t')) { // obsolete line folding: part of the previous value
      const last = headers[headers.length - 1];
      if (!last) return undefined;
      last.value = `${last.value} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    headers.push({ name: name.toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  if (expect === 'request') {
    const m = REQUEST_LINE.exec(start);
    if (!m) return undefined;
    return { kind: 'request', method: m[1]!, target: m[2]!, minor: Number(m[3]), headers };
  }
  const m = STATUS_LINE.exec(start);
  if (!m) return undefined;
  return { kind: 'response', status: Number(m[2]), minor: Number(m[1]), headers };
}

export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/** How the body after a head is delimited (RFC 9112 6.3); undefined when the framing headers are invalid. */
export function bodyFraming(headers: readonly HeaderField[], isRequest: boolean): BodyFraming | undefined {
  let te: string | undefined;
  let cl: string | undefined;
  for (const h of headers) {
    if (h.name === 'transfer-encoding') te = te === undefined ? h.value : `${te}, ${h.value}`;
    else if (h.name === 'content-length') {
      if (cl !== undefined && cl !== h.value) return undefined;
      cl = h.value;
    }
  }
  if (te !== undefined) {
    const codings = te.toLowerCase().split(',').map((s) => s.trim());
    if (codings[codings.length - 1] === 'chunked') return { kind: 'chunked' };
    return isRequest ? undefined : { kind: 'close' };
  }
  if (cl !== undefined) {
    const v = cl.split(',')[0]!.trim();
    if (!/^\d{1,15}$/.test(v)) return undefined;
    const n = Number(v);
    return n === 0 ? { kind: 'none' } : { kind: 'length', length: n };
  }
  return isRequest ? { kind: 'none' } : { kind: 'close' };
}
