// Returning the C heap's freed memory to the kernel. libbpf parses the kernel's BTF (several MiB of vmlinux types)
// for every object it loads and frees it after; glibc keeps those pages mapped for reuse, so an agent that loaded
// its collectors carried ~20 MiB of freed heap in its RSS for good. malloc_trim(0) gives them back (also the free
// pages inside the heap, not only at its top).
#include "memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tapio {

// releaseFreedHeap() -> boolean: whether any memory went back to the kernel (false where the C library has no
// malloc_trim, e.g. musl, whose allocator returns freed memory by itself).
static Napi::Value ReleaseFreedHeap(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("releaseFreedHeap", Napi::Function::New(env, ReleaseFreedHeap));
}

}  // namespace tapio
