// BPF records carry bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME, counts suspend). Converting to wall-clock time needs
// the offset between CLOCK_REALTIME and CLOCK_BOOTTIME: the addon reads both back to back (native/src/clock.cc),
// so the offset is exact to a microsecond or so, with no spinning on the event loop. Refreshed now and then, since
// NTP slews the realtime clock.
import { native } from './native';

let offsetNs = 0n;
/** Boot time after which the offset is measured again: records' own timestamps say when a minute has passed, so
 *  converting one costs no clock read (Date.now() per record was ~50 ns here). */
let refreshAfterBootNs = -1n;
const REFRESH_NS = 60_000_000_000n;

/** Wall-clock nanoseconds since the Unix epoch for a bpf_ktime_get_boot_ns() value. */
export function bootNsToUnixNano(bootNs: bigint): bigint {
  if (bootNs > refreshAfterBootNs || refreshAfterBootNs < 0n) {
    const { realtimeNs, boottimeNs } = native().clockPair();
    offsetNs = realtimeNs - boottimeNs;
    refreshAfterBootNs = boottimeNs + REFRESH_NS;
  }
  return bootNs + offsetNs;
}

/** CLOCK_BOOTTIME now (ns), comparable with record timestamps: used for delivery latency. */
export function bootNowNs(): bigint {
  return native().boottimeNs();
}

/** USER_HZ, the unit of times in /proc/<pid>/stat (sysconf(_SC_CLK_TCK)). */
export function clockTicksPerSecond(): number {
  return native().clockTicksPerSecond();
}
