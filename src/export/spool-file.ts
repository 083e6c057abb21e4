// The on-disk form of one spooled batch, encrypted with AES-256-GCM, and the loading of the spool key.
//
// File layout (docs/export.md has the long form):
//   "TAPIOSP1" | u32 LE header length | header JSON | 12-byte nonce | 16-byte GCM tag | ciphertext of the payload
// The header (signal, encoding, record counts per event name, creation time, key id) is authenticated but not
// encrypted, so retention and drop accounting work without decrypting; the file's sequence number (its name) is
// authenticated too, so files cannot be reordered or swapped undetected.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { Signal } from './settings';

export const SPOOL_MAGIC = Buffer.from('TAPIOSP1', 'latin1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** What an event name looks like (process.exec, http.request): anything else in a header is not used as a label. */
const KIND_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/** One export request's worth of records, already serialized in the wire encoding. */
export interface Batch {
  signal: Signal;
  encoding: 'protobuf' | 'json';
  /** Records in the payload (log records, spans or metric data points). */
  records: number;
  /** Records per event name, for drop accounting if the batch is ever given up. */
  kinds: Record<string, number>;
  createdAtMs: number;
  payload: Uint8Array;
}

export type BatchHeader = Omit<Batch, 'payload'>;

export class SpoolKeyError extends Error {}
/** A spool file that cannot be trusted: bad format, wrong key, or tampered. */
export class SpoolFileError extends Error {
  constructor(message: string, readonly header?: BatchHeader) {
    super(message);
  }
}

export interface SpoolKey {
  key: Buffer;
  /** 8 bytes derived from the key: tells "written with another key" apart from "tampered". */
  id: string;
}

/** Read a 32-byte key from a file holding it raw, as 64 hex characters, or as base64. */
export function loadSpoolKey(path: string): SpoolKey {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(path);
  } catch (e) {
    throw new SpoolKeyError(`spool key file ${path}: cannot read: ${(e as Error).message}`);
  }
  let key: Buffer | undefined;
  if (raw.length === 32) {
    key = raw;
  } else {
    const text = raw.toString('utf8').trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
    else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
      const decoded = Buffer.from(text, 'base64');
      if (decoded.length === 32) key = decoded;
    }
  }
  if (!key) {
    throw new SpoolKeyError(`spool key file ${path}: expected a 32-byte key (32 raw bytes, 64 hex characters or ` +
      `base64 of 32 bytes), found ${raw.length} bytes; make one with: head -c 32 /dev/urandom | base64`);
  }
  return keyFromBytes(key);
}

export function keyFromBytes(key: Buffer): SpoolKey {
  if (key.length !== 32) throw new SpoolKeyError(`spool key must be 32 bytes, got ${key.length}`);
  const id = createHmac('sha256', key).update('tapio spool key id').digest().subarray(0, 8).toString('hex');
  return { key, id };
}

function aad(headerBytes: Buffer, seq: bigint): Buffer {
  const s = Buffer.alloc(8);
  s.writeBigUInt64LE(seq);
  return Buffer.concat([headerBytes, s]);
}

export function encodeSpoolFile(batch: Batch, seq: bigint, k: SpoolKey): Buffer {
  const { payload, ...meta } = batch;
  const headerJson = Buffer.from(JSON.stringify({ v: 1, keyId: k.id, ...meta }), 'utf8');
  const prefix = Buffer.alloc(SPOOL_MAGIC.length + 4);
  SPOOL_MAGIC.copy(prefix);
  prefix.writeUInt32LE(headerJson.length, SPOOL_MAGIC.length);
  const headerBytes = Buffer.concat([prefix, headerJson]);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', k.key, nonce);
  cipher.setAAD(aad(headerBytes, seq));
  const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
  return Buffer.concat([headerBytes, nonce, cipher.getAuthTag(), ciphertext]);
}

/** Parse the header only (no key needed). Throws SpoolFileError when the file is not a spool file. */
export function readSpoolHeader(data: Buffer): { header: BatchHeader; keyId: string; headerEnd: number } {
  if (data.length < SPOOL_MAGIC.length + 4 || !data.subarray(0, SPOOL_MAGIC.length).equals(SPOOL_MAGIC)) {
    throw new SpoolFileError('not a Tapio spool file (bad magic)');
  }
  const len = data.readUInt32LE(SPOOL_MAGIC.length);
  const headerEnd = SPOOL_MAGIC.length + 4 + len;
  if (len > 1 << 20 || headerEnd + NONCE_BYTES + TAG_BYTES > data.length) {
    throw new SpoolFileError('truncated spool file (header runs past the end)');
  }
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(data.subarray(SPOOL_MAGIC.length + 4, headerEnd).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new SpoolFileError('corrupt spool file header (not JSON)');
  }
  const signal = h.signal;
  const encoding = h.encoding;
  if (h.v !== 1 || (signal !== 'logs' && signal !== 'metrics' && signal !== 'traces') ||
      (encoding !== 'protobuf' && encoding !== 'json') || typeof h.records !== 'number' ||
      typeof h.createdAtMs !== 'number' || typeof h.keyId !== 'string' || typeof h.kinds !== 'object' || !h.kinds) {
    throw new SpoolFileError('corrupt spool file header (missing or bad fields)');
  }
  // The header is only authenticated once the file is decrypted (decodeSpoolFile); until then it is what anyone
  // with write access made it. What it says is used only for drop accounting of a file that cannot be read, so it is
  // bounded here: no more records than the file has ciphertext bytes, and event names that are names.
  const payloadBytes = data.length - headerEnd - NONCE_BYTES - TAG_BYTES;
  const records = Number.isSafeInteger(h.records) && (h.records as number) >= 0 ? Math.min(h.records as number, payloadBytes) : 0;
  let kinds: Record<string, number> = {};
  let sum = 0;
  for (const [k, v] of Object.entries(h.kinds as Record<string, unknown>)) {
    if (!KIND_NAME.test(k) || !Number.isSafeInteger(v) || (v as number) < 0) continue;
    kinds[k] = v as number;
    sum += v as number;
  }
  if (sum !== records) kinds = {}; // inconsistent: counted under otlp.<signal> instead of per event name
  return {
    header: { signal, encoding, records, createdAtMs: h.createdAtMs, kinds },
    keyId: h.keyId,
    headerEnd,
  };
}

/** Decrypt and authenticate a spool file. Throws SpoolFileError saying whether the key or the content is wrong. */
export function decodeSpoolFile(data: Buffer, seq: bigint, k: SpoolKey): Batch {
  const { header, keyId, headerEnd } = readSpoolHeader(data);
  if (keyId !== k.id) {
    throw new SpoolFileError(`written with a different spool key (key id ${keyId}, current key id ${k.id}); ` +
      'restore the old key to read it', header);
  }
  const nonce = data.subarray(headerEnd, headerEnd + NONCE_BYTES);
  const tag = data.subarray(headerEnd + NONCE_BYTES, headerEnd + NONCE_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', k.key, nonce);
  decipher.setAAD(aad(data.subarray(0, headerEnd), seq));
  decipher.setAuthTag(tag);
  try {
    const payload = Buffer.concat([decipher.update(data.subarray(headerEnd + NONCE_BYTES + TAG_BYTES)), decipher.final()]);
    return { ...header, payload };
  } catch {
    throw new SpoolFileError('failed authentication: the file was modified, truncated or renamed', header);
  }
}
