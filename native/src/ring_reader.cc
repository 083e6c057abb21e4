#include "ring_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log_capture.h"

namespace tapio {

static uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// Returned by OnSample when the current batch is full: libbpf stops consuming (after this record) so we can flush.
static constexpr int kBatchFull = -ENOBUFS;

Napi::Function RingReader::Init(Napi::Env env) {
  return DefineClass(env, "RingReader",
                     {InstanceMethod("stop", &RingReader::Stop), InstanceMethod("stats", &RingReader::Stats)});
}

// new RingReader(mapFd, { coalesceMs, batchRecords, batchBytes, queueBatches }, onBatch(buffer, count))
RingReader::RingReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingReader>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsObject() || !info[2].IsFunction()) {
    throw Napi::TypeError::New(env, "RingReader(mapFd, options, onBatch)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Object o = info[1].As<Napi::Object>();
  auto num = [&](const char* key, uint32_t def) {
    return o.Has(key) && o.Get(key).IsNumber() ? o.Get(key).As<Napi::Number>().Uint32Value() : def;
  };
  coalesce_ms_ = num("coalesceMs", 5);
  batch_records_ = num("batchRecords", 8192);
  batch_bytes_ = num("batchBytes", 4u << 20);
  queue_batches_ = num("queueBatches", 16);
  if (coalesce_ms_ < 1) coalesce_ms_ = 1;
  if (batch_records_ < 1) batch_records_ = 1;
  if (queue_batches_ < 1) queue_batches_ = 1;

  LogCapture capture;
  rb_ = ring_buffer__new(fd, &RingReader::OnSample, this, nullptr);
  if (rb_ == nullptr) throw Napi::Error::New(env, ErrorText("open ring buffer", -errno, capture.Text()));
  bpf_map_info info_;
  memset(&info_, 0, sizeof(info_));
  __u32 info_len = sizeof(info_);
  page_size_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (bpf_obj_get_info_by_fd(fd, &info_, &info_len) == 0) ring_bytes_ = info_.max_entries;
  void* cons = mmap(nullptr, page_size_, PROT_READ, MAP_SHARED, fd, 0);
  void* prod = mmap(nullptr, page_size_, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page_size_));
  if (cons != MAP_FAILED) consumer_pos_ = static_cast<const volatile unsigned long*>(cons);
  if (prod != MAP_FAILED) producer_pos_ = static_cast<const volatile unsigned long*>(prod);

  callback_ = Napi::Persistent(info[2].As<Napi::Function>());
  // Stay alive while a call into JS may still be queued: the reference is dropped by the tsfn's finalizer, which
  // runs only after Stop() released it and every queued call has run.
  Ref();
  tsfn_ = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "tapio-ring-reader", 0, 1,
                                        [this](Napi::Env) { Unref(); });
  current_ = std::make_unique<Batch>();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tapio-ring");  // so top -H and per-thread CPU accounting can tell it apart
    Run();
  });
}

RingReader::~RingReader() {
  StopThread();
  if (rb_ != nullptr) ring_buffer__free(rb_);
  if (consumer_pos_) munmap(const_cast<unsigned long*>(consumer_pos_), page_size_);
  if (producer_pos_) munmap(const_cast<unsigned long*>(producer_pos_), page_size_);
}

uint64_t RingReader::Available() const {
  if (consumer_pos_ == nullptr || producer_pos_ == nullptr) return ring_bytes_;  // unknown: assume full
  return __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE) - __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE);
}

int RingReader::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  Batch& b = *self->current_;
  if (b.count == 0) b.first_ns = NowNs();
  size_t at = b.bytes.size();
  size_t padded = (size + 7) & ~static_cast<size_t>(7);
  b.bytes.resize(at + 8 + padded);
  uint32_t len = static_cast<uint32_t>(size);
  memcpy(b.bytes.data() + at, &len, 4);
  memset(b.bytes.data() + at + 4, 0, 4);
  memcpy(b.bytes.data() + at + 8, data, size);
  b.count++;
  self->records_.fetch_add(1, std::memory_order_relaxed);
  self->bytes_.fetch_add(size, std::memory_order_relaxed);
  if (b.count >= self->batch_records_ || b.bytes.size() >= self->batch_bytes_) return kBatchFull;
  return 0;
}

// Move the current batch to the queue, waiting (without draining the kernel ring) while the queue is full.
void RingReader::Flush() {
  if (current_->count == 0) return;
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.size() >= queue_batches_) {
    uint64_t start = NowNs();
    while (queue_.size() >= queue_batches_ && !stop_.load()) {
      space_cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    stalled_ns_.fetch_add(NowNs() - start, std::memory_order_relaxed);
    if (stop_.load()) {
      // Stopping: keep the batch so Stop() can still deliver it.
    }
  }
  queue_.push_back(std::move(current_));
  if (queue_.size() > queue_high_water_.load()) queue_high_water_.store(static_cast<uint32_t>(queue_.size()));
  lock.unlock();
  batches_.fetch_add(1, std::memory_order_relaxed);
  current_ = std::make_unique<Batch>();
  current_->bytes.reserve(64 * 1024);
  if (!call_pending_.exchange(true)) {
    if (tsfn_.NonBlockingCall(this, &RingReader::CallJs) != napi_ok) call_pending_.store(false);
  }
}

void RingReader::Run() {
  const uint64_t coalesce_ns = static_cast<uint64_t>(coalesce_ms_) * 1000000ull;
  auto drain = [this] {
    for (;;) {
      int n = ring_buffer__consume(rb_);
      if (n == kBatchFull) {
        Flush();
        if (stop_.load()) return;
        continue;
      }
      if (n < 0) poll_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  };
  // Programs wake us for the first record in an empty ring (and when it fills past a threshold). So: with nothing to
  // do, sleep in epoll (the timeout only bounds how long stop() waits). Once records arrive, let them accumulate in
  // the ring for the coalescing delay (not polling, so the producers' wakeups cost nothing and none are caused),
  // peeking at the fill level twice per delay (draining early at 1/8 full, well before the programs' half-full
  // wakeups) so a burst cannot overflow the ring meanwhile; then drain and flush.
  // A record thus waits about coalesceMs at most, and JS gets one batch per interval.
  //
  // "First record in an empty ring" is decided by each producer at submit time; two CPUs submitting into an empty
  // ring at once can both see the other's record and both skip the wakeup. epoll then never hears of them, so every
  // idle timeout also drains the ring directly: such records wait at most idle_timeout_ms, never forever.
  const int idle_timeout_ms = 50;
  const uint64_t slice_ns = coalesce_ns / 2 > 1000000 ? coalesce_ns / 2 : 1000000;
  while (!stop_.load()) {
    if (current_->count == 0) {
      int n = ring_buffer__poll(rb_, idle_timeout_ms);
      if (n == kBatchFull)
        Flush();
      else if (n < 0 && n != -EINTR)
        poll_errors_.fetch_add(1, std::memory_order_relaxed);
      if (n == 0) drain();
      continue;
    }
    uint64_t age = NowNs() - current_->first_ns;
    if (age < coalesce_ns && Available() < ring_bytes_ / 8) {
      uint64_t wait = coalesce_ns - age < slice_ns ? coalesce_ns - age : slice_ns;
      timespec ts{0, static_cast<long>(wait)};
      nanosleep(&ts, nullptr);
      continue;
    }
    drain();
    if (NowNs() - current_->first_ns >= coalesce_ns) Flush();
  }
  // Stopping: take everything submitted before now, however many batches that is (the queue bound is waived: the
  // caller is about to deliver them). Bounded by the producer position seen now, so a producer that keeps going
  // cannot keep us here; what it adds later is the caller's to avoid (detach programs first, see LoadedCollector).
  const uint64_t until = producer_pos_ ? __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE) : 0;
  for (int guard = 0; guard < 1 << 20; guard++) {
    int n = ring_buffer__consume(rb_);
    if (n == kBatchFull) Flush();
    if (n != kBatchFull || consumer_pos_ == nullptr || __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE) >= until) break;
  }
}

// Delivers the batches queued when called (all of them when `all`, at stop). Bounded on purpose: the reader thread
// refills the queue while JS works, and an unbounded loop would keep the event loop from timers and I/O under
// sustained load. Batches that arrive meanwhile have their own pending call.
void RingReader::DeliverQueued(Napi::Env env, Napi::Function callback, bool all) {
  size_t budget;
  {
    std::lock_guard<std::mutex> lock(mu_);
    budget = queue_.size();
  }
  while (all || budget-- > 0) {
    std::unique_ptr<Batch> b;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) break;
      b = std::move(queue_.front());
      queue_.pop_front();
    }
    space_cv_.notify_one();
    auto* vec = new std::vector<uint8_t>(std::move(b->bytes));
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, vec->data(), vec->size(), [](Napi::Env, void*, std::vector<uint8_t>* v) { delete v; }, vec);
    callbacks_.fetch_add(1, std::memory_order_relaxed);
    callback.Call({ab, Napi::Number::New(env, b->count)});
  }
}

void RingReader::CallJs(Napi::Env env, Napi::Function callback, RingReader* self) {
  if (env == nullptr) return;
  self->call_pending_.store(false);
  if (self->stopped_) return;
  self->DeliverQueued(env, callback, false);
}

void RingReader::StopThread() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  space_cv_.notify_all();
  thread_.join();
}

// stop(): stops the thread (returns within about coalesceMs), delivers what is still queued, releases the
// callback. Returns the final stats.
Napi::Value RingReader::Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!stopped_) {
    StopThread();
    if (current_ && current_->count > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(current_));
      current_ = std::make_unique<Batch>();
    }
    DeliverQueued(env, callback_.Value(), true);
    ring_buffer__free(rb_);  // closes the epoll fd and unmaps the ring now, not at garbage collection
    rb_ = nullptr;
    stopped_ = true;
    tsfn_.Release();  // its finalizer drops our reference once queued calls are done
    callback_.Reset();
  }
  return Stats(info);
}

Napi::Value RingReader::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("records", Napi::Number::New(env, static_cast<double>(records_.load())));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes_.load())));
  o.Set("batches", Napi::Number::New(env, static_cast<double>(batches_.load())));
  o.Set("callbacks", Napi::Number::New(env, static_cast<double>(callbacks_.load())));
  o.Set("stalledMs", Napi::Number::New(env, static_cast<double>(stalled_ns_.load()) / 1e6));
  o.Set("pollErrors", Napi::Number::New(env, static_cast<double>(poll_errors_.load())));
  o.Set("queueHighWater", queue_high_water_.load());
  size_t depth;
  {
    std::lock_guard<std::mutex> lock(mu_);
    depth = queue_.size();
  }
  o.Set("queueDepth", Napi::Number::New(env, static_cast<double>(depth)));
  o.Set("running", !stopped_);
  return o;
}

}  // namespace tapio
