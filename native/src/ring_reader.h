// RingReader: drains one BPF ring buffer on a background thread and hands JS one batch of many records per
// callback. Wakeups are coalesced (a batch waits at most `coalesceMs`), and batches wait for JS in a bounded queue:
// when JS falls behind, the thread stops draining, the kernel ring fills, and the BPF programs count the records
// they cannot reserve as drops. Memory never grows without bound.
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

struct ring_buffer;

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

  static int OnSample(void* ctx, void* data, size_t size);
  static void CallJs(Napi::Env env, Napi::Function callback, RingReader* self);
  void Run();
  void Flush();
  void DeliverQueued(Napi::Env env, Napi::Function callback, bool all);
  void StopThread();

  ring_buffer* rb_ = nullptr;
  // Our own read-only views of the ring's consumer and producer positions, to see how full it is while we let
  // records accumulate during the coalescing delay (libbpf 1.1 has no API for it).
  const volatile unsigned long* consumer_pos_ = nullptr;
  const volatile unsigned long* producer_pos_ = nullptr;
  size_t page_size_ = 0;
  uint64_t ring_bytes_ = 0;
  uint64_t Available() const;
  uint32_t coalesce_ms_;
  uint32_t batch_records_;
  uint32_t batch_bytes_;
  uint32_t queue_batches_;

  std::unique_ptr<Batch> current_;
  std::mutex mu_;
  std::condition_variable space_cv_;
  std::deque<std::unique_ptr<Batch>> queue_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> call_pending_{false};
  bool stopped_ = false;
  std::thread thread_;
  Napi::ThreadSafeFunction tsfn_;
  Napi::FunctionReference callback_;

  // Statistics (read from JS while the thread runs).
  std::atomic<uint64_t> records_{0}, bytes_{0}, batches_{0}, callbacks_{0}, stalled_ns_{0}, poll_errors_{0};
  std::atomic<uint32_t> queue_high_water_{0};
};

}  // namespace tapio
