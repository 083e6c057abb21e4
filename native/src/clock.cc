// Clocks for turning BPF timestamps (bpf_ktime_get_boot_ns: CLOCK_BOOTTIME) into wall-clock time, and the clock
// tick rate /proc counts in. Read here rather than estimated from JS, which has neither clock nor sysconf.
#include "clock.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace tapio {

static int64_t Ns(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// clockPair() -> { realtimeNs: bigint, boottimeNs: bigint, gapNs: number }: CLOCK_REALTIME read between two
// CLOCK_BOOTTIME reads; of a few tries, the one with the smallest gap (a preemption between the reads shows as a
// large gap). boottimeNs is the midpoint of its two reads, so realtimeNs - boottimeNs is the boot-to-wall offset
// to within gapNs / 2.
static Napi::Value ClockPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t best_gap = INT64_MAX, best_real = 0, best_boot = 0;
  for (int i = 0; i < 5; i++) {
    int64_t b0 = Ns(CLOCK_BOOTTIME);
    int64_t r = Ns(CLOCK_REALTIME);
    int64_t b1 = Ns(CLOCK_BOOTTIME);
    if (b1 - b0 < best_gap) {
      best_gap = b1 - b0;
      best_real = r;
      best_boot = b0 + (b1 - b0) / 2;
    }
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("realtimeNs", Napi::BigInt::New(env, best_real));
  o.Set("boottimeNs", Napi::BigInt::New(env, best_boot));
  o.Set("gapNs", Napi::Number::New(env, static_cast<double>(best_gap)));
  return o;
}

// boottimeNs() -> bigint: CLOCK_BOOTTIME now (the clock of record timestamps; counts suspend).
static Napi::Value BoottimeNs(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), Ns(CLOCK_BOOTTIME));
}

// clockTicksPerSecond() -> number: sysconf(_SC_CLK_TCK), the unit of /proc/<pid>/stat times (USER_HZ).
static Napi::Value ClockTicksPerSecond(const Napi::CallbackInfo& info) {
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) throw Napi::Error::New(info.Env(), "sysconf(_SC_CLK_TCK) failed");
  return Napi::Number::New(info.Env(), static_cast<double>(hz));
}

void InitClock(Napi::Env env, Napi::Object exports) {
  exports.Set("clockPair", Napi::Function::New(env, ClockPair));
  exports.Set("boottimeNs", Napi::Function::New(env, BoottimeNs));
  exports.Set("clockTicksPerSecond", Napi::Function::New(env, ClockTicksPerSecond));
}

}  // namespace tapio
