// HPACK Huffman decoding (RFC 7541, Appendix B). The code is canonical, so the 257 code lengths below define it
// completely; at load time they are turned into a nibble-at-a-time state machine (two table lookups per byte).
import { HpackError } from './errors';

// Code length in bits for symbols 0..255 and EOS (256), from RFC 7541 Appendix B.
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28,
  28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12,
  10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6,
  5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22,
  22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20,
  22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28,
  27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28,
  27, 27, 27, 27, 27, 26, 30,
];
const EOS = 256;

// Decoding tree: internal nodes numbered from 0 (the root); child >= 0 is an internal node, child < 0 is leaf ~sym.
const children: number[][] = [[0, 0]];
const allOnesDepth: number[] = [0]; // depth of a node reached by 1-bits only (valid padding), else -1

function buildTree(): void {
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b);
  let code = 0;
  let prevLen = CODE_LENGTHS[order[0]!]!;
  children[0] = [NaN, NaN];
  order.forEach((sym, i) => {
    const len = CODE_LENGTHS[sym]!;
    if (i > 0) code = (code + 1) * 2 ** (len - prevLen);
    prevLen = len;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(code / 2 ** b) % 2;
      if (b === 0) { children[node]![bit] = ~sym; break; }
      let next = children[node]![bit]!;
      if (Number.isNaN(next)) {
        next = children.length;
        children.push([NaN, NaN]);
        const parentOnes = allOnesDepth[node]!;
        allOnesDepth.push(bit === 1 && parentOnes >= 0 ? parentOnes + 1 : -1);
        children[node]![bit] = next;
      }
      node = next;
    }
  });
}
buildTree();

// For each (node, nibble): next node, symbol emitted (-1: none), or FAIL (EOS decoded / no such code).
const NODES = children.length;
const nextNode = new Int16Array(NODES * 16);
const emitted = new Int16Array(NODES * 16);
const FAIL = -2;
for (let n = 0; n < NODES; n++) {
  for (let nib = 0; nib < 16; nib++) {
    let node = n;
    let sym = -1;
    for (let b = 3; b >= 0; b--) {
      const child = children[node]![(nib >> b) & 1]!;
      if (Number.isNaN(child)) { sym = FAIL; break; }
      if (child < 0) {
        if (~child === EOS) { sym = FAIL; break; }
        sym = ~child; // codes are at least 5 bits long, so a nibble emits at most one symbol
        node = 0;
      } else node = child;
    }
    nextNode[n * 16 + nib] = sym === FAIL ? 0 : node;
    emitted[n * 16 + nib] = sym;
  }
}

/** Decodes a Huffman-coded string literal; throws HpackError on EOS, an unknown code or invalid padding. */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number): string {
  const out = new Uint8Array((end - start) * 2); // 5 bits is the shortest code: at most 1.6 symbols per byte
  let len = 0;
  let node = 0;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    let k = node * 16 + (byte >> 4);
    let sym = emitted[k]!;
    if (sym === FAIL) throw new HpackError('invalid Huffman code');
    if (sym >= 0) out[len++] = sym;
    node = nextNode[k]!;
    k = node * 16 + (byte & 15);
    sym = emitted[k]!;
    if (sym === FAIL) throw new HpackError('invalid Huffman code');
    if (sym >= 0) out[len++] = sym;
    node = nextNode[k]!;
  }
  const pad = allOnesDepth[node]!;
  if (node !== 0 && (pad < 0 || pad > 7)) throw new HpackError('invalid Huffman padding');
  return latin1(out, 0, len);
}

/** Header bytes as a string, one char per byte (HTTP field values are octets; no UTF-8 guessing here). */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}
