// RingReader: drains one BPF ring buffer (or, on kernels without one, a perf event array: see record_source.h) on
// a background thread and hands JS one batch of many records per callback. Wakeups are coalesced (a batch waits
// about `coalesceMs`, a small one up to `maxCoalesceMs`), and batches wait for JS in a bounded queue: when JS falls
// behind, the thread stops draining, the kernel buffers fill, and the BPF programs count the records they cannot
// send as drops. Memory never grows without bound.
//
// Batch format (one ArrayBuffer): for each record, a u32 length, 4 bytes of padding, the record bytes, then padding
// to the next 8-byte boundary.
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

#include "record_source.h"
#include "wake_fd.h"

namespace tapio {

class RingReader : public Napi::ObjectWrap<RingReader> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RingReader(const Napi::CallbackInfo& info);
  ~RingReader() override;

 private:
  struct Batch {
    std::vector<uint8_t> bytes;
    uint32_t count = 0;
    uint64_t first_ns = 0;  // CLOCK_MONOTONIC when the first record was copied
  };

  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);

  static bool Append(void* ctx, const void* data, size_t size);
  static void CallJs(Napi::Env env, Napi::Function callback, RingReader* self);
  void Run();
  void Nap(uint64_t ns);
  void DrainSource();
  void Flush();
  void DeliverQueued(Napi::Env env, Napi::Function callback, bool all);
  void StopThread();
  void WatchWakeFd();
  void Release();

  uint32_t coalesce_ms_;
  uint32_t max_coalesce_ms_;  // a batch of fewer than coalesce_records_ may wait this long (>= coalesce_ms_)
  uint32_t coalesce_records_;
  uint32_t batch_records_;
  uint32_t batch_bytes_;
  uint32_t queue_batches_;

  std::unique_ptr<RecordSource> source_;  // freed at stop: closes the epoll fd and unmaps the kernel buffers
  WakeFd wake_;                           // signalled by StopThread, watched in source_'s epoll set
  bool wakeable_ = false;                 // wake_ is in that set, so the idle wait can be long
  std::unique_ptr<Batch> current_;        // owned by the reader thread while it runs
  std::mutex mu_;
  std::condition_variable space_cv_;
  std::deque<std::unique_ptr<Batch>> queue_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> call_pending_{false};
  // The thread waits for `started_` so the constructor can still fail (and join it) after creating it.
  std::mutex start_mu_;
  std::condition_variable start_cv_;
  bool started_ = false;
  bool stopped_ = false;
  bool released_ = false;
  std::thread thread_;
  Napi::ThreadSafeFunction tsfn_;
  Napi::FunctionReference callback_;
  Napi::FunctionReference after_delivery_;
  const char* transport_ = "";

  // Statistics (read from JS while the thread runs).
  std::atomic<uint64_t> records_{0}, bytes_{0}, batches_{0}, callbacks_{0}, stalled_ns_{0}, poll_errors_{0};
  std::atomic<uint64_t> lost_{0}, abandoned_{0};
  std::atomic<uint64_t> sleeps_{0};  // naps while a batch coalesces: the reader's wake-ups beyond one per batch
  std::atomic<uint32_t> queue_high_water_{0};
};

}  // namespace tapio
