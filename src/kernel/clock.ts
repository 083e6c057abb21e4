// BPF records carry bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME, counts suspend). Converting to wall-clock time needs
// the offset between the two clocks, measured once and refreshed now and then (NTP slews the realtime clock).
import * as fs from 'node:fs';

let offsetNs: bigint | undefined;
let measuredAt = 0;
const REFRESH_MS = 60_000;

/** Time spent suspended (BOOTTIME - MONOTONIC). process.hrtime is CLOCK_MONOTONIC; servers rarely suspend, but we
 *  correct for it with /proc/uptime (10 ms resolution, so only gaps above 50 ms count). Refreshed with the offset. */
let suspendedNs = 0n;

function measureSuspended(): bigint {
  const mono = process.hrtime.bigint();
  const uptimeNs = BigInt(Math.round(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1e9));
  const gap = uptimeNs - mono;
  return gap > 50_000_000n ? gap : 0n;
}

function bootTimeNowNs(): bigint {
  return process.hrtime.bigint() + suspendedNs;
}

function measureOnce(): bigint {
  // Date.now() has millisecond resolution; reading the boot clock right when it ticks over to a new millisecond
  // pins the realtime to within a microsecond or so. The spin lasts at most ~1 ms.
  const first = Date.now();
  let now = first;
  const deadline = process.hrtime.bigint() + 3_000_000n;
  while (now === first && process.hrtime.bigint() < deadline) now = Date.now();
  return BigInt(now) * 1_000_000n - bootTimeNowNs();
}

function measure(): bigint {
  suspendedNs = measureSuspended();
  // A pause (preemption, a slow emulated timer) between seeing the tick and reading the boot clock makes that
  // reading's offset too small, never too large: the largest of a few readings is the closest.
  let best = measureOnce();
  for (let i = 0; i < 4; i++) {
    const o = measureOnce();
    if (o > best) best = o;
  }
  return best;
}

/** Wall-clock nanoseconds since the Unix epoch for a bpf_ktime_get_boot_ns() value. */
export function bootNsToUnixNano(bootNs: bigint): bigint {
  const now = Date.now();
  if (offsetNs === undefined || now - measuredAt > REFRESH_MS) {
    offsetNs = measure();
    measuredAt = now;
  }
  return bootNs + offsetNs;
}

/** CLOCK_BOOTTIME now (ns), comparable with record timestamps: used for delivery latency. */
export function bootNowNs(): bigint {
  if (offsetNs === undefined) bootNsToUnixNano(0n);
  return bootTimeNowNs();
}

