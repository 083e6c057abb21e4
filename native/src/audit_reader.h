// AuditReader: listens to the kernel audit netlink socket's read-only multicast group (NETLINK_AUDIT, group 1,
// AUDIT_NLGRP_READLOG; needs CAP_AUDIT_READ) on a background thread and hands JS batches of raw netlink datagrams.
// It never sends anything to the kernel: it does not register as the audit daemon and changes no audit setting.
// Same shape as RingReader: one batch per callback (coalesced), a bounded queue between the thread and JS. A netlink
// socket cannot be paused the way a ring can, so when the queue is full the batch is dropped and its datagrams are
// counted (queueDrops); when the kernel could not deliver because our socket buffer was full, recv reports ENOBUFS
// and that is counted (socketOverruns: the kernel does not say how many records were lost).
//
// Batch format: the RingReader's (for each datagram: u32 length, 4 bytes padding, the bytes, padding to 8), so the
// TypeScript side walks it with the same RecordBatch. Parsing the netlink messages inside is left to TypeScript
// (src/collectors/audit/parse.ts), where the untrusted bytes are fuzz-tested.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "wake_fd.h"

namespace tapio {

class AuditReader : public Napi::ObjectWrap<AuditReader> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit AuditReader(const Napi::CallbackInfo& info);
  ~AuditReader() override;

 private:
  struct Batch {
    std::vector<uint8_t> bytes;
    uint32_t count = 0;
    uint64_t first_ns = 0;
  };

  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  static void CallJs(Napi::Env env, Napi::Function callback, AuditReader* self);
  void Run();
  void Flush();
  void DeliverQueued(Napi::Env env, Napi::Function callback, bool all);
  void StopThread();

  int fd_ = -1;
  WakeFd wake_;  // signalled by StopThread, polled beside fd_
  uint32_t coalesce_ms_;
  uint32_t batch_records_;
  uint32_t queue_batches_;
  std::unique_ptr<Batch> current_;
  std::mutex mu_;
  std::deque<std::unique_ptr<Batch>> queue_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> call_pending_{false};
  bool stopped_ = false;
  std::thread thread_;
  Napi::ThreadSafeFunction tsfn_;
  Napi::FunctionReference callback_;

  std::atomic<uint64_t> datagrams_{0}, bytes_{0}, batches_{0}, callbacks_{0}, queue_drops_{0}, socket_overruns_{0},
      recv_errors_{0};
};

}  // namespace tapio
