// The C heap's freed memory back to the kernel after BPF object loads (malloc_trim).
#pragma once
#include <napi.h>

namespace tapio {
void InitMemory(Napi::Env env, Napi::Object exports);
}
