#include "maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fd_registry.h"
#include "log_capture.h"

namespace tapio {

static Napi::Error Errno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, ErrorText(what, err, ""));
  e.Set("errno", Napi::Number::New(env, err < 0 ? -err : err));
  return e;
}

static int FdArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected an fd");
  return info[i].As<Napi::Number>().Int32Value();
}

static Napi::Buffer<unsigned char> BufArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throw Napi::TypeError::New(info.Env(), std::string("expected a Buffer for ") + what);
  return info[i].As<Napi::Buffer<unsigned char>>();
}

// mapInfo(fd) -> { type, name, keySize, valueSize, maxEntries, id, flags }
static Napi::Value MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  __u32 len = sizeof(mi);
  int err = bpf_obj_get_info_by_fd(fd, &mi, &len);
  if (err) throw Errno(env, "map info", err);
  Napi::Object o = Napi::Object::New(env);
  const char* type = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(mi.type));
  o.Set("type", type ? type : "unknown");
  o.Set("name", mi.name);
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  o.Set("id", mi.id);
  o.Set("flags", mi.map_flags);
  return o;
}

// The registered shape of the map behind argument i; a TypeError when it is not a map fd the addon handed out
// (BpfObject.mapFd), so a stale or made-up fd never reaches the kernel with buffers sized for something else.
static MapShape MapArg(const Napi::CallbackInfo& info, size_t i, const char* call) {
  int fd = FdArg(info, i);
  MapShape shape;
  if (!FindMap(fd, &shape))
    throw Napi::TypeError::New(info.Env(), std::string(call) + ": fd " + std::to_string(fd) +
                                               " is not a map fd handed out by BpfObject.mapFd");
  return shape;
}

// A Buffer of exactly `want` bytes, or a RangeError naming the map, the call, and both sizes.
static Napi::Buffer<unsigned char> SizedBufArg(const Napi::CallbackInfo& info, size_t i, const MapShape& map,
                                               const char* call, const char* what, uint32_t want) {
  auto buf = BufArg(info, i, what);
  if (buf.Length() != want)
    throw Napi::RangeError::New(info.Env(), std::string(call) + " on map '" + map.name + "': " + what + " is " +
                                                std::to_string(buf.Length()) + " bytes, the map's " + what +
                                                " size is " + std::to_string(want));
  return buf;
}

// mapLookup(fd, key) -> Buffer | null. The value size comes from the map (per-CPU maps: one 8-byte aligned slot
// per possible CPU).
static Napi::Value MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapShape map = MapArg(info, 0, "mapLookup");
  auto key = SizedBufArg(info, 1, map, "mapLookup", "key", map.key_size);
  auto value = Napi::Buffer<unsigned char>::New(env, map.value_bytes);
  int err = bpf_map_lookup_elem(FdArg(info, 0), key.Data(), value.Data());
  if (err) {
    if (errno == ENOENT) return env.Null();
    throw Errno(env, "map lookup", -errno);
  }
  return value;
}

// mapUpdate(fd, key, value, flags = BPF_ANY): value is exactly the map's value bytes (per-CPU: every CPU's slot).
static Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapShape map = MapArg(info, 0, "mapUpdate");
  auto key = SizedBufArg(info, 1, map, "mapUpdate", "key", map.key_size);
  auto value = SizedBufArg(info, 2, map, "mapUpdate", "value", map.value_bytes);
  uint64_t flags =
      info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : static_cast<int64_t>(BPF_ANY);
  int err = bpf_map_update_elem(FdArg(info, 0), key.Data(), value.Data(), flags);
  if (err) throw Errno(env, "map update", -errno);
  return env.Undefined();
}

// mapLookupBatch(fd, maxEntries = the map's max_entries, into?: { keys, values }) -> { keys: Buffer, values: Buffer,
// count } | null: every entry in one syscall (BPF_MAP_LOOKUP_BATCH); null when the kernel or map type does not
// support it. Entries are the map's key size and value bytes each. With `into` (Buffers at least that large, e.g.
// the ones a previous call returned), the entries are written there: a reader polling a map every second then
// allocates no memory outside V8's heap, which only a collection would give back.
static Napi::Value MapLookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapShape map = MapArg(info, 0, "mapLookupBatch");
  uint32_t max = map.max_entries;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "mapLookupBatch: maxEntries must be a number");
    int64_t want = info[1].As<Napi::Number>().Int64Value();
    if (want < 1 || want > map.max_entries)
      throw Napi::RangeError::New(env, "mapLookupBatch on map '" + map.name + "': maxEntries is " +
                                           std::to_string(want) + ", the map holds 1 to " +
                                           std::to_string(map.max_entries));
    max = static_cast<uint32_t>(want);
  }
  size_t key_bytes = static_cast<size_t>(map.key_size) * max;
  size_t value_bytes = static_cast<size_t>(map.value_bytes) * max;
  Napi::Buffer<unsigned char> keys, values;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object into = info[2].As<Napi::Object>();
    if (!into.Get("keys").IsBuffer() || !into.Get("values").IsBuffer())
      throw Napi::TypeError::New(env, "mapLookupBatch: into must be { keys: Buffer, values: Buffer }");
    keys = into.Get("keys").As<Napi::Buffer<unsigned char>>();
    values = into.Get("values").As<Napi::Buffer<unsigned char>>();
    if (keys.Length() < key_bytes || values.Length() < value_bytes)
      throw Napi::RangeError::New(env, "mapLookupBatch on map '" + map.name + "': into holds " +
                                           std::to_string(keys.Length()) + " key and " +
                                           std::to_string(values.Length()) + " value bytes, the map needs " +
                                           std::to_string(key_bytes) + " and " + std::to_string(value_bytes));
  } else {
    keys = Napi::Buffer<unsigned char>::New(env, key_bytes);
    values = Napi::Buffer<unsigned char>::New(env, value_bytes);
  }
  __u32 count = max;
  __u64 out_batch = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  int err = bpf_map_lookup_batch(FdArg(info, 0), nullptr, &out_batch, keys.Data(), values.Data(), &count, &opts);
  if (err && errno != ENOENT) {
    // 524 is the kernel's internal ENOTSUPP: 5.10 returns it for map types without batch operations (per-CPU
    // arrays); the caller then reads entry by entry.
    if (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP || errno == 524) return env.Null();
    throw Errno(env, "map lookup batch", -errno);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("keys", keys);
  r.Set("values", values);
  r.Set("count", count);
  r.Set("keySize", map.key_size);
  r.Set("valueBytes", map.value_bytes);
  return r;
}

// mapDelete(fd, key) -> boolean (false when the key was not there)
static Napi::Value MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapShape map = MapArg(info, 0, "mapDelete");
  auto key = SizedBufArg(info, 1, map, "mapDelete", "key", map.key_size);
  int err = bpf_map_delete_elem(FdArg(info, 0), key.Data());
  if (err) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    throw Errno(env, "map delete", -errno);
  }
  return Napi::Boolean::New(env, true);
}

// mapNextKey(fd, key | null) -> Buffer | null (null at the end)
static Napi::Value MapNextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapShape map = MapArg(info, 0, "mapNextKey");
  const void* cur = nullptr;
  if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined())
    cur = SizedBufArg(info, 1, map, "mapNextKey", "key", map.key_size).Data();
  auto next = Napi::Buffer<unsigned char>::New(env, map.key_size);
  int err = bpf_map_get_next_key(FdArg(info, 0), cur, next.Data());
  if (err) {
    if (errno == ENOENT) return env.Null();
    throw Errno(env, "map next key", -errno);
  }
  return next;
}

// programInfo(fd) -> { id, name, type, runTimeNs, runCount, recursionMisses, verifiedInstructions }
static Napi::Value ProgramInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  bpf_prog_info pi;
  memset(&pi, 0, sizeof(pi));
  __u32 len = sizeof(pi);
  int err = bpf_obj_get_info_by_fd(fd, &pi, &len);
  if (err) throw Errno(env, "program info", err);
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", pi.id);
  o.Set("name", pi.name);
  const char* type = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(pi.type));
  o.Set("type", type ? type : "unknown");
  o.Set("runTimeNs", Napi::Number::New(env, static_cast<double>(pi.run_time_ns)));
  o.Set("runCount", Napi::Number::New(env, static_cast<double>(pi.run_cnt)));
  o.Set("recursionMisses", Napi::Number::New(env, static_cast<double>(pi.recursion_misses)));
  o.Set("verifiedInstructions", pi.verified_insns);
  return o;
}

// enableRunStats() -> fd: while the fd is open, the kernel accounts run time and count per program.
static Napi::Value EnableRunStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) throw Errno(env, "enable BPF run-time stats", -errno);
  RegisterClosableFd(fd);
  return Napi::Number::New(env, fd);
}

// closeFd(fd): only fds the addon handed out to be closed by JS (enableRunStats); anything else (a map or program
// fd that its BpfObject owns, an fd of Node's own) is refused, so JS cannot pull an fd from under its owner.
static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  if (!TakeClosableFd(fd))
    throw Napi::Error::New(info.Env(),
                           "closeFd: fd " + std::to_string(fd) +
                               " was not handed out by the addon to be closed (only enableRunStats fds are)");
  close(fd);
  return info.Env().Undefined();
}

static Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) throw Errno(info.Env(), "count possible CPUs", n);
  return Napi::Number::New(info.Env(), n);
}

// probeProgramType(typeName) -> { ok, error? }: can the kernel load a trivial program of this type at all?
static Napi::Value ProbeProgramType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  Napi::Object r = Napi::Object::New(env);
  for (int t = 0; t < 64; t++) {
    const char* s = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(t));
    if (s == nullptr || name != s) continue;
    LogCapture capture;
    int res = libbpf_probe_bpf_prog_type(static_cast<bpf_prog_type>(t), nullptr);
    r.Set("ok", res == 1);
    if (res != 1)
      r.Set("error", res == 0 ? "program type not supported by this kernel" : ErrorText("probe", res, capture.Text()));
    return r;
  }
  r.Set("ok", false);
  r.Set("error", "libbpf does not know program type '" + name + "'");
  return r;
}

// probeMapType(typeName) -> { ok, error? }
static Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  Napi::Object r = Napi::Object::New(env);
  for (int t = 0; t < 64; t++) {
    const char* s = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(t));
    if (s == nullptr || name != s) continue;
    LogCapture capture;
    int res = libbpf_probe_bpf_map_type(static_cast<bpf_map_type>(t), nullptr);
    r.Set("ok", res == 1);
    if (res != 1)
      r.Set("error", res == 0 ? "map type not supported by this kernel" : ErrorText("probe", res, capture.Text()));
    return r;
  }
  r.Set("ok", false);
  r.Set("error", "libbpf does not know map type '" + name + "'");
  return r;
}

// libbpfVersion() -> "1.1"
static Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

void InitMaps(Napi::Env env, Napi::Object exports) {
  exports.Set("mapInfo", Napi::Function::New(env, MapInfo));
  exports.Set("mapLookup", Napi::Function::New(env, MapLookup));
  exports.Set("mapUpdate", Napi::Function::New(env, MapUpdate));
  exports.Set("mapDelete", Napi::Function::New(env, MapDelete));
  exports.Set("mapLookupBatch", Napi::Function::New(env, MapLookupBatch));
  exports.Set("mapNextKey", Napi::Function::New(env, MapNextKey));
  exports.Set("programInfo", Napi::Function::New(env, ProgramInfo));
  exports.Set("enableRunStats", Napi::Function::New(env, EnableRunStats));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
  exports.Set("probeProgramType", Napi::Function::New(env, ProbeProgramType));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
}

}  // namespace tapio
