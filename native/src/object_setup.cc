// BpfObject, before load: reshaping a map (a ring buffer map becomes a perf event array for the perf transport).
// Split from object.cc to keep each file short.
#include <bpf/libbpf.h>

#include <cstring>

#include "log_capture.h"
#include "object.h"

namespace tapio {

// setMapShape(map, { type, keySize, valueSize, maxEntries }): before load only. Used to turn a ring buffer map into a
// perf event array (maxEntries 0: libbpf makes one slot per possible CPU) on kernels without ring buffers.
Napi::Value BpfObject::SetMapShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  if (loaded_) throw Napi::Error::New(env, "setMapShape after load");
  std::string name = info[0].As<Napi::String>();
  bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
  if (map == nullptr) throw Napi::Error::New(env, "no BPF map named '" + name + "' in this object");
  Napi::Object o = info[1].As<Napi::Object>();
  std::string type = o.Get("type").As<Napi::String>();
  int t = -1;
  for (int i = 0; i < 64 && t < 0; i++) {
    const char* s = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(i));
    if (s != nullptr && type == s) t = i;
  }
  if (t < 0) throw Napi::Error::New(env, "libbpf does not know map type '" + type + "'");
  int err = bpf_map__set_type(map, static_cast<bpf_map_type>(t));
  if (!err) err = bpf_map__set_key_size(map, o.Get("keySize").As<Napi::Number>().Uint32Value());
  if (!err) err = bpf_map__set_value_size(map, o.Get("valueSize").As<Napi::Number>().Uint32Value());
  if (!err) err = bpf_map__set_max_entries(map, o.Get("maxEntries").As<Napi::Number>().Uint32Value());
  if (err) throw Napi::Error::New(env, ErrorText("set shape of map " + name, err, ""));
  return env.Undefined();
}

// reuseMap(name, fd): before load, the object uses an existing map (another loaded object's, by its fd) instead of
// creating its own, so two objects' programs share state (TLS capture's per-thread and per-SSL maps are written by
// its uprobes and read by request capture's socket programs). libbpf takes the map's type and sizes from the fd
// (both objects must define it from the same header) and keeps its own duplicate of the fd.
Napi::Value BpfObject::ReuseMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  if (loaded_) throw Napi::Error::New(env, "reuseMap after load");
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "reuseMap(name: string, fd: number)");
  }
  std::string name = info[0].As<Napi::String>();
  bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
  if (map == nullptr) throw Napi::Error::New(env, "no BPF map named '" + name + "' in this object");
  int err = bpf_map__reuse_fd(map, info[1].As<Napi::Number>().Int32Value());
  if (err) throw Napi::Error::New(env, ErrorText("reuse map " + name, err, ""));
  return env.Undefined();
}

// After load libbpf no longer reads the ELF image (programs, BTF and map data were copied out at open): keeping the
// copy would hold 0.6-3 MiB of C heap per loaded object for the agent's lifetime.
void BpfObject::ReleaseElf() {
  std::vector<unsigned char>().swap(elf_);
}

}  // namespace tapio
