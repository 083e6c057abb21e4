// Path templating for RED metrics: id-like path segments (numbers, UUIDs, hex, long opaque tokens) become `{id}`
// so the number of series stays bounded however many users, orders or sessions the requests name.

export const ID_PLACEHOLDER = '{id}';
const MAX_SEGMENTS = 12;
const MAX_SEGMENT_CHARS = 64;

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const NUMBER = /^[-+]?\d+([.,]\d+)?$/;
const HEX = /^(0x)?[0-9a-f]{8,}$/i;
const TOKEN_CHARS = /^[A-Za-z0-9_\-+=.~%:@]+$/;

/** Whether one path segment looks like an identifier rather than a route word. */
export function isIdSegment(seg: string): boolean {
  if (seg.length === 0) return false;
  if (NUMBER.test(seg) || UUID.test(seg)) return true;
  if (HEX.test(seg)) return true; // 8+ hex digits: ids and hashes (English words of only a-f letters are rare)
  if (/\d{4,}/.test(seg)) return true; // order-12345, 2024-01-31, v20240131
  if (seg.length > MAX_SEGMENT_CHARS) return true;
  // Long opaque tokens (base64, base64url, random ids): letters and digits mixed, or mixed case with no word shape.
  if (seg.length >= 16 && TOKEN_CHARS.test(seg)) {
    const digits = (seg.match(/\d/g) ?? []).length;
    const upper = (seg.match(/[A-Z]/g) ?? []).length;
    const lower = (seg.match(/[a-z]/g) ?? []).length;
    if (digits >= 2 || (upper >= 2 && lower >= 2 && !/[-_.]/.test(seg))) return true;
  }
  return false;
}

/** `/users/42/orders/9f1c...?x=1` -> `/users/{id}/orders/{id}`; query and fragment dropped, depth bounded. */
export function routeTemplate(target: string): string {
  let path = target;
  const cut = path.search(/[?#]/);
  if (cut >= 0) path = path.slice(0, cut);
  if (!path.startsWith('/')) {
    // absolute-form (proxies): keep only the path; authority-form (CONNECT) and `*` have no path
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(path);
    if (!m) return path === '*' ? '*' : ID_PLACEHOLDER;
    path = m[1] ?? '/';
  }
  const segments = path.split('/').slice(1);
  const kept = segments.slice(0, MAX_SEGMENTS).map((s) => (isIdSegment(s) ? ID_PLACEHOLDER : s));
  if (segments.length > MAX_SEGMENTS) kept.push('{...}');
  return `/${kept.join('/')}`;
}
