#include "object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include "fd_registry.h"
#include "log_capture.h"

namespace tapio {

Napi::Function BpfObject::Init(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         InstanceMethod("programs", &BpfObject::Programs),
                         InstanceMethod("maps", &BpfObject::Maps),
                         InstanceMethod("setAutoload", &BpfObject::SetAutoload),
                         InstanceMethod("setMapMaxEntries", &BpfObject::SetMapMaxEntries),
                         InstanceMethod("setMapShape", &BpfObject::SetMapShape),
                         InstanceMethod("setRodata", &BpfObject::SetRodata),
                         InstanceMethod("reuseMap", &BpfObject::ReuseMap),
                         InstanceMethod("load", &BpfObject::Load),
                         InstanceMethod("attach", &BpfObject::Attach),
                         InstanceMethod("attachUprobe", &BpfObject::AttachUprobe),
                         InstanceMethod("attachCgroup", &BpfObject::AttachCgroup),
                         InstanceMethod("attachTc", &BpfObject::AttachTc),
                         InstanceMethod("detach", &BpfObject::Detach),
                         InstanceMethod("detachInBackground", &BpfObject::DetachInBackground),
                         InstanceMethod("detachAll", &BpfObject::DetachAll),
                         InstanceMethod("mapFd", &BpfObject::MapFd),
                         InstanceMethod("programFd", &BpfObject::ProgramFd),
                         InstanceMethod("close", &BpfObject::Close),
                     });
}

// new BpfObject(elf: Buffer, name: string, { btfPath? }): btfPath is a BTF file describing the running kernel, for
// CO-RE relocation on kernels without /sys/kernel/btf/vmlinux (BTFHub-style files).
BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsString()) {
    throw Napi::TypeError::New(env, "BpfObject(elf: Buffer, name: string, options?: { btfPath?: string })");
  }
  auto buf = info[0].As<Napi::Buffer<unsigned char>>();
  elf_.assign(buf.Data(), buf.Data() + buf.Length());
  std::string name = info[1].As<Napi::String>();
  std::string btf_path;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Value p = info[2].As<Napi::Object>().Get("btfPath");
    if (p.IsString())
      btf_path = p.As<Napi::String>();
    else if (!p.IsUndefined())
      throw Napi::TypeError::New(env, "BpfObject: btfPath must be a string");
  }
  LogCapture capture;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str(),
              .btf_custom_path = btf_path.empty() ? nullptr : btf_path.c_str());
  obj_ = bpf_object__open_mem(elf_.data(), elf_.size(), &opts);
  if (obj_ == nullptr) {
    int err = -errno;
    throw Napi::Error::New(env, ErrorText("open BPF object " + name, err, capture.Text()));
  }
}

BpfObject::~BpfObject() {
  CloseAll();
}

// Call after removing `tc` from tc_: the qdisc we created goes only when none of our other filters use it.
void BpfObject::DetachTc(const TcAttachment& tc) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = tc.ifindex, .attach_point = tc.ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = tc.handle, .priority = tc.priority);
  bpf_tc_detach(&hook, &opts);
  bool still_used = false;
  for (auto& [key, other] : tc_) still_used = still_used || other.ifindex == tc.ifindex;
  if (tc.created_hook && !still_used) {
    // Leave the interface as we found it: no clsact qdisc of ours behind.
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    bpf_tc_hook_destroy(&hook);
  }
}

void BpfObject::DetachEverything() {
  while (!tc_.empty()) {
    TcAttachment tc = tc_.begin()->second;
    tc_.erase(tc_.begin());
    DetachTc(tc);
  }
  for (auto& [name, link] : links_) bpf_link__destroy(link);
  links_.clear();
}

void BpfObject::CloseAll() {
  DetachEverything();
  if (obj_ != nullptr) {
    // The map fds close with the object: forget them first, so a later fd with the same number is not mistaken
    // for one of these maps.
    bpf_map* map;
    bpf_object__for_each_map(map, obj_) {
      if (bpf_map__fd(map) >= 0) ForgetMapFd(bpf_map__fd(map));
    }
    bpf_object__close(obj_);
    obj_ = nullptr;
  }
}

bpf_program* BpfObject::FindProgram(Napi::Env env, const std::string& name) {
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  bpf_program* prog = bpf_object__find_program_by_name(obj_, name.c_str());
  if (prog == nullptr) throw Napi::Error::New(env, "no BPF program named '" + name + "' in this object");
  return prog;
}

Napi::Value BpfObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  Napi::Array out = Napi::Array::New(env);
  bpf_program* prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, obj_) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", bpf_program__name(prog));
    p.Set("section", bpf_program__section_name(prog));
    const char* type = libbpf_bpf_prog_type_str(bpf_program__type(prog));
    p.Set("type", type ? type : "unknown");
    const char* attach = libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(prog));
    p.Set("attachType", attach ? attach : "");
    p.Set("autoload", bpf_program__autoload(prog));
    p.Set("fd", loaded_ ? bpf_program__fd(prog) : -1);
    out.Set(i++, p);
  }
  return out;
}

Napi::Value BpfObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  Napi::Array out = Napi::Array::New(env);
  bpf_map* map;
  uint32_t i = 0;
  bpf_object__for_each_map(map, obj_) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", bpf_map__name(map));
    const char* type = libbpf_bpf_map_type_str(bpf_map__type(map));
    m.Set("type", type ? type : "unknown");
    m.Set("keySize", bpf_map__key_size(map));
    m.Set("valueSize", bpf_map__value_size(map));
    m.Set("maxEntries", bpf_map__max_entries(map));
    m.Set("fd", loaded_ ? bpf_map__fd(map) : -1);
    out.Set(i++, m);
  }
  return out;
}

// setAutoload(program: string, on: boolean)
Napi::Value BpfObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* prog = FindProgram(env, info[0].As<Napi::String>());
  int err = bpf_program__set_autoload(prog, info[1].ToBoolean());
  if (err) throw Napi::Error::New(env, ErrorText("set autoload", err, ""));
  return env.Undefined();
}

// setMapMaxEntries(map: string, n: number): before load only
Napi::Value BpfObject::SetMapMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  std::string name = info[0].As<Napi::String>();
  bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
  if (map == nullptr) throw Napi::Error::New(env, "no BPF map named '" + name + "' in this object");
  int err = bpf_map__set_max_entries(map, info[1].As<Napi::Number>().Uint32Value());
  if (err) throw Napi::Error::New(env, ErrorText("set max entries of map " + name, err, ""));
  return env.Undefined();
}

// setRodata(name: string, value: Buffer): sets a `const volatile` global of the object's .rodata before load (the
// verifier then sees the value as a constant). The variable is found by name in the object's BTF; a Buffer whose
// length is not the variable's size is refused, so a caller cannot write past it.
Napi::Value BpfObject::SetRodata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  if (loaded_) throw Napi::Error::New(env, "setRodata: the object is loaded already (.rodata is frozen at load)");
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer()) {
    throw Napi::TypeError::New(env, "setRodata(name: string, value: Buffer)");
  }
  std::string name = info[0].As<Napi::String>();
  auto value = info[1].As<Napi::Buffer<unsigned char>>();
  const struct btf* btf = bpf_object__btf(obj_);
  bpf_map* map = bpf_object__find_map_by_name(obj_, ".rodata");
  int sec_id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
  if (map == nullptr || sec_id < 0) throw Napi::Error::New(env, "setRodata " + name + ": this object has no .rodata");
  const struct btf_type* sec = btf__type_by_id(btf, sec_id);
  const struct btf_var_secinfo* vars = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); i++) {
    const struct btf_type* var = btf__type_by_id(btf, vars[i].type);
    if (name != btf__name_by_offset(btf, var->name_off)) continue;
    if (value.Length() != vars[i].size) {
      throw Napi::Error::New(env, "setRodata " + name + ": the variable has " + std::to_string(vars[i].size) +
                                      " bytes, the value " + std::to_string(value.Length()));
    }
    size_t size = 0;
    const auto* initial = static_cast<const unsigned char*>(bpf_map__initial_value(map, &size));
    if (initial == nullptr || vars[i].offset + vars[i].size > size) {
      throw Napi::Error::New(env, "setRodata " + name + ": .rodata has no room for it");
    }
    std::vector<unsigned char> data(initial, initial + size);  // libbpf 1.1 hands out a const view: copy, set back
    std::memcpy(data.data() + vars[i].offset, value.Data(), value.Length());
    int err = bpf_map__set_initial_value(map, data.data(), data.size());
    if (err) throw Napi::Error::New(env, ErrorText("setRodata " + name, err, ""));
    return env.Undefined();
  }
  throw Napi::Error::New(env, "setRodata: no const volatile variable named '" + name + "' in this object's .rodata");
}

// load(): { ok: boolean, error?: string, errno?: number, log: string }. Never throws for a load failure: the
// caller (src/kernel/loader.ts) reads which program failed from the log and retries without it.
Napi::Value BpfObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  if (loaded_) throw Napi::Error::New(env, "BPF object is already loaded");
  LogCapture capture;
  int err = bpf_object__load(obj_);
  ReleaseElf();
  Napi::Object r = Napi::Object::New(env);
  r.Set("ok", err == 0);
  r.Set("log", capture.Text());
  if (err) {
    r.Set("errno", -err);
    r.Set("error", ErrorText("load BPF object", err, ""));
  } else {
    loaded_ = true;
  }
  return r;
}

Napi::Object BpfObject::AttachResult(Napi::Env env, bpf_program* prog, const std::string& name, bpf_link* link, int err,
                                     const std::string& what, const std::string& log) {
  if (link != nullptr && err == 0) {
    // Owned by links_ before anything below can throw, so a failed JS allocation cannot leak the link.
    auto old = links_.find(name);
    if (old != links_.end()) bpf_link__destroy(old->second);
    links_[name] = link;
  }
  Napi::Object r = Napi::Object::New(env);
  if (link != nullptr && err == 0) {
    r.Set("ok", true);
  } else {
    r.Set("ok", false);
    r.Set("errno", err < 0 ? -err : err);
    r.Set("error", ErrorText(what, err, log));
  }
  return r;
}

// attach(program): attach by the program's SEC() name (tracepoint/, raw_tp/, tp_btf/, fentry/, kprobe/, lsm/ ...).
Napi::Value BpfObject::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  bpf_program* prog = FindProgram(env, name);
  if (!loaded_) throw Napi::Error::New(env, "attach before load");
  if (bpf_program__fd(prog) < 0) throw Napi::Error::New(env, "program '" + name + "' is not loaded");
  LogCapture capture;
  bpf_link* link = bpf_program__attach(prog);
  int err = link ? 0 : -errno;
  return AttachResult(env, prog, name, link, err, "attach " + name, capture.Text());
}

// attachUprobe(program, { binaryPath, functionName, offset, pid = -1, retprobe = false, linkKey, cookie })
// cookie: what bpf_get_attach_cookie() returns in the program for this attachment (0 by default).
// linkKey (optional) names the link, so one program can be attached to many files (TLS libraries) and each
// attachment detached on its own with detach(linkKey); without it the link is named after the program.
// With functionName empty, offset is the file offset of the probed instruction (a function the file does not
// export, found by the caller); with a name, offset is added to the function's address (0 by default).
Napi::Value BpfObject::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  bpf_program* prog = FindProgram(env, name);
  if (!loaded_) throw Napi::Error::New(env, "attach before load");
  Napi::Object o = info[1].As<Napi::Object>();
  std::string path = o.Get("binaryPath").As<Napi::String>();
  std::string func = o.Get("functionName").As<Napi::String>();
  int pid = o.Has("pid") ? o.Get("pid").As<Napi::Number>().Int32Value() : -1;
  bool ret = o.Has("retprobe") && o.Get("retprobe").ToBoolean();
  int64_t offset = o.Has("offset") ? o.Get("offset").As<Napi::Number>().Int64Value() : 0;
  if (offset < 0) throw Napi::RangeError::New(env, "attachUprobe: offset must be >= 0");
  LogCapture capture;
  uint64_t cookie = o.Has("cookie") ? static_cast<uint64_t>(o.Get("cookie").As<Napi::Number>().Int64Value()) : 0;
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie, .retprobe = ret,
              .func_name = func.empty() ? nullptr : func.c_str());
  bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, path.c_str(), static_cast<size_t>(offset), &opts);
  int err = link ? 0 : -errno;
  std::string key = o.Has("linkKey") ? std::string(o.Get("linkKey").As<Napi::String>()) : name;
  std::ostringstream where;
  if (func.empty())
    where << "+0x" << std::hex << offset;
  else
    where << func;
  return AttachResult(env, prog, key, link, err, "attach uprobe " + name + " to " + path + ":" + where.str(),
                      capture.Text());
}

// attachCgroup(program, cgroupPath)
Napi::Value BpfObject::AttachCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  bpf_program* prog = FindProgram(env, name);
  if (!loaded_) throw Napi::Error::New(env, "attach before load");
  std::string path = info[1].As<Napi::String>();
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return AttachResult(env, prog, name, nullptr, -errno, "open cgroup " + path, "");
  LogCapture capture;
  bpf_link* link = bpf_program__attach_cgroup(prog, fd);
  int err = link ? 0 : -errno;
  close(fd);
  return AttachResult(env, prog, name, link, err, "attach " + name + " to cgroup " + path, capture.Text());
}

// attachTc(program, { ifname, ingress = true })
Napi::Value BpfObject::AttachTc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  bpf_program* prog = FindProgram(env, name);
  if (!loaded_) throw Napi::Error::New(env, "attach before load");
  Napi::Object o = info[1].As<Napi::Object>();
  std::string ifname = o.Get("ifname").As<Napi::String>();
  bool ingress = !o.Has("ingress") || o.Get("ingress").ToBoolean();
  Napi::Object r = Napi::Object::New(env);
  int ifindex = if_nametoindex(ifname.c_str());
  LogCapture capture;
  int err = 0;
  if (ifindex == 0) {
    err = -errno;
  } else {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
    err = bpf_tc_hook_create(&hook);
    bool created = err == 0;
    if (err == -EEXIST) err = 0;
    if (err == 0) {
      LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog));
      err = bpf_tc_attach(&hook, &opts);
      if (err == 0) {
        // One entry per (program, interface, direction); attaching the same one again replaces the old filter.
        std::string key = name + "@" + std::to_string(ifindex) + (ingress ? "/ingress" : "/egress");
        bool inherited = false;
        auto old = tc_.find(key);
        if (old != tc_.end()) {
          TcAttachment prev = old->second;
          tc_.erase(old);
          inherited = prev.created_hook;
          prev.created_hook = false;  // the qdisc stays: the new filter is on it
          DetachTc(prev);
        }
        tc_[key] = TcAttachment{ifindex, ingress, opts.handle, opts.priority, created || inherited};
      } else if (created) {
        hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&hook);
      }
    }
  }
  r.Set("ok", err == 0);
  if (err) {
    r.Set("errno", -err);
    r.Set("error", ErrorText("attach tc " + name + " to " + ifname, err, capture.Text()));
  }
  return r;
}

Napi::Value BpfObject::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  bool found = false;
  auto it = links_.find(name);
  if (it != links_.end()) {
    bpf_link__destroy(it->second);
    links_.erase(it);
    found = true;
  }
  for (auto it = tc_.begin(); it != tc_.end();) {
    if (it->first.compare(0, name.size() + 1, name + "@") == 0) {
      TcAttachment tc = it->second;
      it = tc_.erase(it);
      DetachTc(tc);
      found = true;
    } else {
      ++it;
    }
  }
  return Napi::Boolean::New(env, found);
}

// Destroys links off the JS thread: a uprobe's detach waits for RCU grace periods in the kernel (~100 ms each on
// 6.18), which would stall the event loop for every link. The links are destroyed concurrently (their grace periods
// overlap), a bounded number at a time, on a libuv pool thread; the promise resolves with how many were destroyed.
class LinkDestroyer : public Napi::AsyncWorker {
 public:
  LinkDestroyer(Napi::Env env, std::vector<bpf_link*> links)
      : Napi::AsyncWorker(env), links_(std::move(links)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    constexpr size_t kAtOnce = 16;
    for (size_t i = 0; i < links_.size(); i += kAtOnce) {
      std::vector<std::thread> threads;
      for (size_t j = i; j < links_.size() && j < i + kAtOnce; j++)
        threads.emplace_back([l = links_[j]] { bpf_link__destroy(l); });
      for (auto& t : threads) t.join();
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), static_cast<double>(links_.size()))); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::vector<bpf_link*> links_;
  Napi::Promise::Deferred deferred_;
};

// detachInBackground(names: string[]): Promise<number>. The links leave this object at once (a name can be attached
// again right away); the kernel lets go of them in the background.
Napi::Value BpfObject::DetachInBackground(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "detachInBackground(names: string[])");
  auto names = info[0].As<Napi::Array>();
  std::vector<bpf_link*> links;
  for (uint32_t i = 0; i < names.Length(); i++) {
    Napi::Value v = names.Get(i);
    if (!v.IsString()) continue;
    auto it = links_.find(v.As<Napi::String>().Utf8Value());
    if (it == links_.end()) continue;
    links.push_back(it->second);
    links_.erase(it);
  }
  auto* worker = new LinkDestroyer(env, std::move(links));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// detachAll(): every program stops running; maps (and what rings still hold) stay readable until close().
Napi::Value BpfObject::DetachAll(const Napi::CallbackInfo& info) {
  DetachEverything();
  return info.Env().Undefined();
}

Napi::Value BpfObject::MapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "BPF object is closed");
  std::string name = info[0].As<Napi::String>();
  bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
  if (map == nullptr) throw Napi::Error::New(env, "no BPF map named '" + name + "' in this object");
  int fd = bpf_map__fd(map);
  if (fd < 0) throw Napi::Error::New(env, "map '" + name + "' has no fd yet (load the object first)");
  int err = RegisterMapFd(fd);  // the map calls take its key and value sizes from here
  if (err) throw Napi::Error::New(env, ErrorText("map info of " + name, err, ""));
  return Napi::Number::New(env, fd);
}

Napi::Value BpfObject::ProgramFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* prog = FindProgram(env, info[0].As<Napi::String>());
  return Napi::Number::New(env, bpf_program__fd(prog));
}

Napi::Value BpfObject::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  return info.Env().Undefined();
}

}  // namespace tapio
