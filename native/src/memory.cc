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

// releaseBuffer(view: Uint8Array) -> boolean: frees the memory behind a typed array now instead of at V8's next
// full collection, by detaching its ArrayBuffer (V8 drops the backing store at once when nothing else shares it;
// every view of it reads as empty from then on). Only a view that covers its whole ArrayBuffer is released: a
// Buffer cut from Node's shared pool, or a slice of a larger buffer, is left alone (false). The caller promises
// that nothing, JS or native (a socket write in progress), still reads it.
static Napi::Value ReleaseBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) return Napi::Boolean::New(env, false);
  Napi::TypedArray view = info[0].As<Napi::TypedArray>();
  Napi::ArrayBuffer buffer = view.ArrayBuffer();
  if (view.ByteOffset() != 0 || view.ByteLength() != buffer.ByteLength() || buffer.ByteLength() == 0) {
    return Napi::Boolean::New(env, false);
  }
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached) {
    return Napi::Boolean::New(env, false);  // already detached
  }
  return Napi::Boolean::New(env, napi_detach_arraybuffer(env, buffer) == napi_ok);
}

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("releaseFreedHeap", Napi::Function::New(env, ReleaseFreedHeap));
  exports.Set("releaseBuffer", Napi::Function::New(env, ReleaseBuffer));
}

}  // namespace tapio
