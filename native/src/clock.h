// Native clock reads: the CLOCK_REALTIME / CLOCK_BOOTTIME pair for the boot-to-wall offset, and the clock tick rate.
#pragma once
#include <napi.h>

namespace tapio {
void InitClock(Napi::Env env, Napi::Object exports);
}
