// BpfObject, before load: reshaping maps and setting load-time constants (for the perf transport and .rodata
// settings). Split from object.cc to keep each file short.
#include <bpf/btf.h>
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

// setGlobal(name, bytes): before load, sets the initial value of a global variable (a `const volatile` in .rodata,
// which the verifier then treats as a constant, or a .data/.bss variable). Returns false when the object has no
// such variable; throws when the size differs.
Napi::Value BpfObject::SetGlobal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  if (loaded_) throw Napi::Error::New(env, "setGlobal after load");
  std::string name = info[0].As<Napi::String>();
  if (info.Length() < 2 || !info[1].IsBuffer()) throw Napi::TypeError::New(env, "setGlobal(name, bytes: Buffer)");
  auto bytes = info[1].As<Napi::Buffer<unsigned char>>();
  const btf* b = bpf_object__btf(obj_);
  if (b == nullptr) return Napi::Boolean::New(env, false);
  bpf_map* map;
  bpf_object__for_each_map(map, obj_) {
    if (!bpf_map__is_internal(map)) continue;
    const char* mname = bpf_map__name(map);
    const char* dot = strchr(mname, '.');
    if (dot == nullptr) continue;  // internal maps are named "<object prefix>.<section>"
    int sec_id = btf__find_by_name_kind(b, dot, BTF_KIND_DATASEC);
    if (sec_id < 0) continue;
    const btf_type* sec = btf__type_by_id(b, sec_id);
    const btf_var_secinfo* vs = btf_var_secinfos(sec);
    for (unsigned i = 0; i < btf_vlen(sec); i++, vs++) {
      const btf_type* var = btf__type_by_id(b, vs->type);
      const char* vname = btf__name_by_offset(b, var->name_off);
      if (vname == nullptr || name != vname) continue;
      if (vs->size != bytes.Length())
        throw Napi::RangeError::New(env, "setGlobal: " + name + " is " + std::to_string(vs->size) + " bytes, got " +
                                             std::to_string(bytes.Length()));
      size_t size = 0;
      // libbpf 1.1 returns a const pointer, but before load the internal map is its writable mmap (as in skeletons).
      auto* data = static_cast<unsigned char*>(const_cast<void*>(static_cast<const void*>(bpf_map__initial_value(map, &size))));
      if (data == nullptr || vs->offset + vs->size > size) throw Napi::Error::New(env, "setGlobal: no initial value for " + name);
      memcpy(data + vs->offset, bytes.Data(), bytes.Length());
      return Napi::Boolean::New(env, true);
    }
  }
  return Napi::Boolean::New(env, false);
}

}  // namespace tapio
