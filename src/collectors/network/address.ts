// Formatting IP addresses from raw kernel bytes: IPv4 dotted quads, IPv6 in RFC 5952 form, and IPv4-mapped IPv6
// (::ffff:a.b.c.d, what a dual-stack socket shows for an IPv4 peer) reported as the IPv4 address it is.

export interface FormattedAddress {
  address: string;
  type: 'ipv4' | 'ipv6';
}

export function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** RFC 5952: lowercase hex, leading zeros dropped, the longest run (2+ groups) of zero groups shown as `::`. */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** `family` is AF_INET (2) or AF_INET6 (10); bytes is the 16-byte field (IPv4 in its first 4 bytes). */
export function formatAddress(family: number, bytes: Uint8Array): FormattedAddress | undefined {
  if (family === 2) return { address: formatIpv4(bytes), type: 'ipv4' };
  if (family !== 10) return undefined;
  if (isV4Mapped(bytes)) return { address: formatIpv4(bytes.subarray(12, 16)), type: 'ipv4' };
  return { address: formatIpv6(bytes), type: 'ipv6' };
}
