// The Node-API addon over libbpf: mechanism only (open, load, attach, maps, ring buffer reading), no policy.
// The typed TypeScript face is src/kernel/native.ts.
#include <napi.h>

#include "audit_reader.h"
#include "clock.h"
#include "log_capture.h"
#include "maps.h"
#include "memory.h"
#include "object.h"
#include "ring_reader.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tapio::InstallLibbpfLogger();
  exports.Set("BpfObject", tapio::BpfObject::Init(env));
  exports.Set("RingReader", tapio::RingReader::Init(env));
  exports.Set("AuditReader", tapio::AuditReader::Init(env));
  tapio::InitMaps(env, exports);
  tapio::InitClock(env, exports);
  tapio::InitMemory(env, exports);
  return exports;
}

NODE_API_MODULE(tapio_native, Init)
