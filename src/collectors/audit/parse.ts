// Pure parsers for what the kernel audit netlink socket delivers: datagrams of netlink messages (nlmsghdr + text
// payload; the record type is nlmsg_type), and the text of one record: `audit(<sec>.<ms>:<serial>): key=value ...`.
// Values are plain, "double-quoted", 'single-quoted' (userspace msg=), or hex-encoded (the kernel hex-encodes
// untrusted strings that contain spaces, quotes or control characters, and leaves them unquoted). SELinux AVC
// records start with `avc:  denied  { perms } for ` (double spaces). Untrusted bytes: never throws; what cannot be
// parsed is returned as an error string for the caller to count.

export interface NetlinkMessage {
  type: number;
  /** The payload as text, trailing NULs removed. */
  text: string;
}

export interface SplitResult {
  messages: NetlinkMessage[];
  /** Why the rest of the datagram was skipped, when it was. */
  error?: string;
}

const NLMSG_HDRLEN = 16;
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Walks the netlink messages of one datagram. Audit payload lengths are not 4-byte aligned, so the remaining
 *  length is kept signed: an unsigned one would underflow after the last, unaligned message. */
export function splitNetlink(bytes: Uint8Array): SplitResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const messages: NetlinkMessage[] = [];
  let at = 0;
  let remaining = bytes.byteLength;
  while (remaining >= NLMSG_HDRLEN) {
    const len = view.getUint32(at, true);
    const type = view.getUint16(at + 4, true);
    if (len < NLMSG_HDRLEN || len > remaining) return { messages, error: 'bad_nlmsg_len' };
    let end = at + len;
    while (end > at + NLMSG_HDRLEN && bytes[end - 1] === 0) end--;
    messages.push({ type, text: decoder.decode(bytes.subarray(at + NLMSG_HDRLEN, end)) });
    const step = (len + 3) & ~3;
    at += step;
    remaining -= step;
  }
  return { messages };
}

export interface AuditRecord {
  type: number;
  /** Unix time in milliseconds, from the record's own stamp. */
  timeMs: number;
  /** Records with the same serial (and stamp) belong to one audit event. */
  serial: number;
  fields: Record<string, string>;
  /** SELinux AVC only: `denied` or `granted`, and the permissions in braces. */
  avc?: { decision: string; permissions: string[] };
}

export type ParseResult = { record: AuditRecord } | { error: string };

const PREFIX = /^audit\((\d{1,12})\.(\d{1,3}):(\d{1,20})\):\s?/;
const AVC = /^avc:\s+(denied|granted)\s+\{([^}]*)\}\s+for\s+/;

/** Keys whose values the kernel logs with audit_log_untrustedstring (hex when they contain odd characters). */
const UNTRUSTED = new Set(['comm', 'exe', 'path', 'name', 'proctitle', 'cwd', 'cmd', 'data', 'key', 'profile',
  'peer', 'info', 'target', 'srcname', 'fsmagic', 'old_name', 'new_name', 'dest']);

function hexDecode(s: string): string | undefined {
  if (s.length === 0 || s.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(s)) return undefined;
  return Buffer.from(s, 'hex').toString('utf8');
}

/** key=value pairs of a record body (after the `audit(...): ` stamp). Bare words without `=` are skipped. */
export function parseFields(body: string): Record<string, string> {
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  const n = body.length;
  let i = 0;
  while (i < n) {
    while (i < n && (body[i] === ' ' || body[i] === '\t' || body[i] === '\n')) i++;
    const keyStart = i;
    while (i < n && body[i] !== '=' && body[i] !== ' ') i++;
    if (i >= n || body[i] !== '=') { // a bare word (`for`, a stray token): skip it
      while (i < n && body[i] !== ' ') i++;
      continue;
    }
    const key = body.slice(keyStart, i);
    i++; // '='
    let value: string;
    const q = body[i];
    if (q === '"' || q === "'") {
      const close = body.indexOf(q, i + 1);
      const end = close < 0 ? n : close;
      value = body.slice(i + 1, end);
      i = close < 0 ? n : close + 1;
    } else {
      const start = i;
      while (i < n && body[i] !== ' ') i++;
      value = body.slice(start, i);
      if (UNTRUSTED.has(key)) {
        const decoded = hexDecode(value);
        // proctitle's arguments are NUL-separated: keep them so the caller can split them.
        if (decoded !== undefined) value = decoded;
      }
    }
    if (key.length > 0 && !(key in fields)) fields[key] = value;
  }
  return fields;
}

/** One record's text (type from nlmsg_type). */
export function parseAuditRecord(type: number, text: string): ParseResult {
  const m = PREFIX.exec(text);
  if (!m) return { error: 'no_audit_stamp' };
  const timeMs = Number(m[1]) * 1000 + Number(m[2]!.padEnd(3, '0'));
  const serial = Number(m[3]);
  let body = text.slice(m[0].length);
  let avc: AuditRecord['avc'];
  const a = AVC.exec(body);
  if (a) {
    avc = { decision: a[1]!, permissions: a[2]!.trim().split(/\s+/).filter(Boolean) };
    body = body.slice(a[0].length);
  }
  const record: AuditRecord = { type, timeMs, serial, fields: parseFields(body) };
  if (avc) record.avc = avc;
  return { record };
}

/** Numbers of the record types we read (linux/audit.h). */
export const AUDIT = {
  SYSCALL: 1300,
  PROCTITLE: 1327,
  EOE: 1320,
  SECCOMP: 1326,
  AVC: 1400,
  LANDLOCK_ACCESS: 1423,
  LANDLOCK_DOMAIN: 1424,
  APPARMOR_FIRST: 1500,
  APPARMOR_DENIED: 1502,
  APPARMOR_KILL: 1506,
  APPARMOR_LAST: 1507,
} as const;
