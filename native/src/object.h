// BpfObject: one BPF ELF object opened from memory, with per-program autoload, load, and per-program attach that
// reports success or libbpf's (and the verifier's) exact message instead of throwing.
#pragma once
#include <napi.h>

#include <map>
#include <string>
#include <vector>

struct bpf_object;
struct bpf_link;
struct bpf_program;

namespace tapio {

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;

 private:
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value SetAutoload(const Napi::CallbackInfo& info);
  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value SetMapShape(const Napi::CallbackInfo& info);
  Napi::Value SetRodata(const Napi::CallbackInfo& info);
  Napi::Value ReuseMap(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value AttachCgroup(const Napi::CallbackInfo& info);
  Napi::Value AttachTc(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value DetachInBackground(const Napi::CallbackInfo& info);
  Napi::Value DetachAll(const Napi::CallbackInfo& info);
  Napi::Value MapFd(const Napi::CallbackInfo& info);
  Napi::Value ProgramFd(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bpf_program* FindProgram(Napi::Env env, const std::string& name);
  void CloseAll();
  void DetachEverything();
  Napi::Object AttachResult(Napi::Env env, bpf_program* prog, const std::string& name, bpf_link* link, int err,
                            const std::string& what, const std::string& log);

  struct TcAttachment {
    int ifindex;
    bool ingress;
    unsigned handle;
    unsigned priority;
    bool created_hook;  // we made the clsact qdisc, so we remove it again on detach
  };
  void DetachTc(const TcAttachment& tc);
  void ReleaseElf();

  std::vector<unsigned char> elf_;  // libbpf keeps pointing into this buffer until load (ReleaseElf after)
  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  std::map<std::string, bpf_link*> links_;
  std::map<std::string, TcAttachment> tc_;
};

}  // namespace tapio
