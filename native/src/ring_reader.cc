#include "ring_reader.h"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace tapio {

static uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

Napi::Function RingReader::Init(Napi::Env env) {
  return DefineClass(env, "RingReader",
                     {InstanceMethod("stop", &RingReader::Stop), InstanceMethod("stats", &RingReader::Stats),
                      InstanceMethod("resume", &RingReader::Resume)});
}

// new RingReader(mapFd, { coalesceMs, maxCoalesceMs, coalesceRecords, batchRecords, batchBytes, queueBatches,
//                transport, perfPagesPerCpu }, onBatch(buffer, count), afterDelivery?()). transport is 'ringbuf' (default) or 'perf' (mapFd is a perf
// event array). With afterDelivery, no further delivery is queued until JS calls resume(): afterDelivery is meant
// to do that from setImmediate, so the event loop (timers, I/O) gets a turn between deliveries. Without it, a
// consumer slower than the ring has its deliveries run back to back by Node-API (up to 1000 in one loop turn), and
// timers wait for seconds.
//
// A constructor that throws runs no destructor, so everything is acquired in an order that cleans up by itself:
// the source is owned by a unique_ptr; the thread waits for a start signal, and a guard stops and joins it if a
// later step throws; the reference that keeps us alive for queued calls is taken last, with the tsfn.
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
  max_coalesce_ms_ = num("maxCoalesceMs", coalesce_ms_);
  coalesce_records_ = num("coalesceRecords", 1024);
  batch_records_ = num("batchRecords", 8192);
  batch_bytes_ = num("batchBytes", 4u << 20);
  queue_batches_ = num("queueBatches", 16);
  if (coalesce_ms_ < 1) coalesce_ms_ = 1;
  if (max_coalesce_ms_ < coalesce_ms_) max_coalesce_ms_ = coalesce_ms_;
  if (batch_records_ < 1) batch_records_ = 1;
  if (queue_batches_ < 1) queue_batches_ = 1;
  std::string transport = o.Has("transport") && o.Get("transport").IsString()
                              ? o.Get("transport").As<Napi::String>().Utf8Value()
                              : "ringbuf";
  uint32_t pages = num("perfPagesPerCpu", 64);
  if (transport != "ringbuf" && transport != "perf")
    throw Napi::TypeError::New(env, "RingReader: transport must be 'ringbuf' or 'perf', not '" + transport + "'");
  if (transport == "perf" && (pages == 0 || (pages & (pages - 1)) != 0))
    throw Napi::RangeError::New(env,
                                "RingReader: perfPagesPerCpu must be a power of two, not " + std::to_string(pages));

  try {
    source_ = transport == "perf" ? OpenPerfSource(fd, pages, &RingReader::Append, this)
                                  : OpenRingSource(fd, &RingReader::Append, this);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  transport_ = source_->Transport();
  WatchWakeFd();
  current_ = std::make_unique<Batch>();
  callback_ = Napi::Persistent(info[2].As<Napi::Function>());
  if (info.Length() > 3 && info[3].IsFunction()) after_delivery_ = Napi::Persistent(info[3].As<Napi::Function>());

  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tapio-ring");  // so top -H and per-thread CPU accounting can tell it apart
    {
      std::unique_lock<std::mutex> lock(start_mu_);
      start_cv_.wait(lock, [this] { return started_; });
    }
    if (!stop_.load()) Run();
  });
  struct JoinUnlessStarted {
    RingReader* self;
    bool done = false;
    ~JoinUnlessStarted() {
      if (done) return;
      self->stop_.store(true);
      {
        std::lock_guard<std::mutex> lock(self->start_mu_);
        self->started_ = true;
      }
      self->start_cv_.notify_all();
      self->thread_.join();
    }
  } guard{this};

  // Stay alive while a call into JS may still be queued: the reference is dropped by the tsfn's finalizer, which
  // runs only after Stop() (or the destructor) released it and every queued call has run.
  Ref();
  try {
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "tapio-ring-reader", 0, 1,
                                          [this](Napi::Env) { Unref(); });
  } catch (...) {
    Unref();
    throw;
  }
  guard.done = true;
  {
    std::lock_guard<std::mutex> lock(start_mu_);
    started_ = true;
  }
  start_cv_.notify_all();
}

RingReader::~RingReader() {
  // Only reached once the tsfn finalizer dropped our reference, i.e. after Release(); a reader never stopped by JS
  // stays alive (and running) until the environment goes away.
  StopThread();
}

// The sink of the record source: copies one record into the current batch; true when the batch is full.
bool RingReader::Append(void* ctx, const void* data, size_t size) {
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
  return b.count >= self->batch_records_ || b.bytes.size() >= self->batch_bytes_;
}

// Move the current batch to the queue, waiting (without draining the kernel buffers) while the queue is full. When
// stopping, the wait ends at once: the batch is still queued, and Stop() delivers it.
void RingReader::Flush() {
  if (current_->count == 0) return;
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.size() >= queue_batches_) {
    uint64_t start = NowNs();
    while (queue_.size() >= queue_batches_ && !stop_.load()) {
      space_cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    stalled_ns_.fetch_add(NowNs() - start, std::memory_order_relaxed);
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

// Takes everything waiting in the kernel buffers, flushing each batch that fills, until nothing is left or we stop.
void RingReader::DrainSource() {
  for (;;) {
    int err = 0;
    bool full = source_->Drain(&err);
    if (full) {
      Flush();
      if (stop_.load()) return;
      continue;
    }
    if (err < 0 && err != -EINTR) poll_errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

// Sleeps `ns`, or less when stop() signals the wake eventfd: a nap may last up to maxCoalesceMs.
void RingReader::Nap(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
  if (wake_.fd() >= 0) {
    pollfd p{wake_.fd(), POLLIN, 0};
    ppoll(&p, 1, &ts, nullptr);
  } else {
    nanosleep(&ts, nullptr);
  }
  sleeps_.fetch_add(1, std::memory_order_relaxed);
}

void RingReader::Run() {
  const uint64_t coalesce_ns = static_cast<uint64_t>(coalesce_ms_) * 1000000ull;
  const uint64_t max_coalesce_ns = static_cast<uint64_t>(max_coalesce_ms_) * 1000000ull;
  // Ring producers wake us for the first record in an empty ring (and when it fills past a threshold). So: with
  // nothing to do, sleep in epoll (the timeout only bounds how long stop() waits). Perf producers wake us only at
  // 1/8 full, so there the idle wait is the coalescing delay. Once records arrive, let them accumulate in the kernel
  // for the coalescing delay (not polling, so the producers' wakeups cost nothing and none are caused), peeking at
  // the fill level as often as the arrival rate asks (draining early at 1/8 full) so a burst cannot overflow
  // meanwhile; then drain and flush. A record thus waits about coalesceMs (perf: up to twice that), and JS gets one
  // batch per interval; at low rates the reader wakes about twice per batch (the first record, the end of the delay).
  //
  // While a batch is small (fewer than coalesceRecords, counting what the kernel holds), it may coalesce longer,
  // up to maxCoalesceMs: each batch costs a fixed price in wake-ups and a JS callback (tens of µs here), so a stream
  // of 10k records/s costs 20 batches a second instead of 200. A fast stream reaches coalesceRecords sooner and
  // goes at coalesceMs as before. maxCoalesceMs defaults to coalesceMs (no extension).
  //
  // "First record in an empty ring" is decided by each producer at submit time; two CPUs submitting into an empty
  // ring at once can both see the other's record and both skip the wakeup. epoll then never hears of them, so every
  // idle timeout also drains directly: such records wait at most the idle timeout, never forever.
  const int idle_timeout_ms = source_->WakesOnFirstRecord() ? 50 : static_cast<int>(coalesce_ms_);
  // The longer a ring has been quiet, the longer it waits: a fifth of the time since its last record, from 50 ms
  // (quiet for up to 250 ms) to 1 s (quiet for 5 s or more). Records that are rare race past the first-record check
  // more rarely still, and such a record waits at most a fifth of the quiet before it, never more than 1 s;
  // meanwhile a quiet reader wakes once a second (six readers of an idle agent: 6 wake-ups a second, not 120 at a
  // fixed 50 ms), and a ring with a record every few seconds ~16 times in the 5 s after each instead of ~100. Any
  // record brings the 50 ms wait back. (The idle timeout also bounded how long stop() waited; with the stop eventfd
  // in the epoll set it need not.)
  const bool may_rest = wakeable_ && source_->WakesOnFirstRecord();
  uint64_t active_at = NowNs();
  const uint64_t min_sleep_ns = coalesce_ns < 1000000 ? coalesce_ns : 1000000;
  // How fast records arrive (bytes per ns), from the last batch: 0 until one was flushed.
  double last_rate = 0;
  uint64_t drained_at = 0;
  while (!stop_.load()) {
    if (current_->count == 0) {
      uint64_t quiet_ms = (NowNs() - active_at) / 1000000ull;
      int timeout_ms =
          may_rest ? static_cast<int>(std::clamp<uint64_t>(quiet_ms / 5, idle_timeout_ms, 1000)) : idle_timeout_ms;
      int n = source_->Wait(timeout_ms);
      if (n < 0 && n != -EINTR) poll_errors_.fetch_add(1, std::memory_order_relaxed);
      DrainSource();
      drained_at = NowNs();
      if (current_->count > 0) active_at = drained_at;
      continue;
    }
    uint64_t now = NowNs();
    uint64_t age = now - current_->first_ns;
    uint64_t pending = source_->Pending();
    uint64_t threshold = source_->Threshold();
    // How long this batch may coalesce, and how many bytes it still lacks to go sooner (0: it may go at coalesceMs).
    uint64_t due = coalesce_ns;
    uint64_t lacking = 0;
    if (max_coalesce_ns > coalesce_ns && pending != UINT64_MAX) {
      double per_record = static_cast<double>(current_->bytes.size()) / current_->count;  // the ring's framing too
      uint64_t target = static_cast<uint64_t>(per_record * coalesce_records_);
      uint64_t held = current_->bytes.size() + pending;
      if (held < target) {
        due = max_coalesce_ns;
        lacking = target - held;
      }
    }
    if (age < due && pending < threshold) {
      // Sleep for the rest of the delay, unless records at the rate they arrive (the faster of what the kernel
      // holds since the last drain and the last batch) would reach the threshold sooner: then for half the time
      // they would take, so a burst cannot overflow meanwhile; and, past coalesceMs, not beyond the time they take
      // to make up coalesceRecords. At exec or connect rates that is one wake-up per batch; a fast producer gets a
      // look at the fill level as often as it needs. With no rate known yet (the first batch), look at half the
      // coalescing delay, as before.
      uint64_t wait = due - age;
      double rate = last_rate;
      if (now > drained_at && pending > 0) rate = std::max(rate, static_cast<double>(pending) / (now - drained_at));
      uint64_t bound = coalesce_ns / 2;
      if (rate > 0) {
        double until = static_cast<double>(threshold - pending) / rate / 2;
        if (lacking > 0) {
          double filled = static_cast<double>(lacking) / rate;
          double at_least = age < coalesce_ns ? static_cast<double>(coalesce_ns - age) : 0;
          until = std::min(until, std::max(filled, at_least));
        }
        bound = until > static_cast<double>(wait) ? wait : static_cast<uint64_t>(until);
      }
      if (bound < min_sleep_ns) bound = min_sleep_ns;
      if (wait > bound) wait = bound;
      Nap(wait);
      continue;
    }
    DrainSource();
    drained_at = NowNs();
    if (drained_at - current_->first_ns >= coalesce_ns) {
      uint64_t span = drained_at - current_->first_ns;
      last_rate = static_cast<double>(current_->bytes.size()) / static_cast<double>(span);
      Flush();
    }
  }
  // Stopping: take everything submitted before now, however many batches that is (the queue bound is waived: the
  // caller is about to deliver them). Bounded by the producer positions seen now, so a producer that keeps going
  // cannot keep us here; what it adds later is the caller's to avoid (detach programs first, see LoadedCollector).
  source_->MarkEnd();
  for (int guard = 0; guard < 1 << 20; guard++) {
    int err = 0;
    bool full = source_->Drain(&err);
    if (full) Flush();
    if (!full || source_->ReachedEnd()) break;
  }
  lost_.store(source_->Lost());
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
  if (self->after_delivery_.IsEmpty()) {
    self->call_pending_.store(false);
    if (self->stopped_) return;
    self->DeliverQueued(env, callback, false);
    return;
  }
  if (self->stopped_) return;
  // call_pending_ stays set: the reader thread queues no call of its own until resume().
  self->DeliverQueued(env, callback, false);
  if (!self->stopped_) self->after_delivery_.Call({});
}

// resume(): the event loop had its turn since the last delivery; deliver again when batches are waiting.
Napi::Value RingReader::Resume(const Napi::CallbackInfo& info) {
  if (stopped_) return info.Env().Undefined();
  // Cleared first: a batch the thread queues from now on gets its own call; one queued before is seen below.
  call_pending_.store(false);
  bool waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting = !queue_.empty();
  }
  if (waiting && !call_pending_.exchange(true)) {
    if (tsfn_.NonBlockingCall(this, &RingReader::CallJs) != napi_ok) call_pending_.store(false);
  }
  return info.Env().Undefined();
}

void RingReader::WatchWakeFd() {
  if (wake_.fd() < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_.fd();
  wakeable_ = epoll_ctl(source_->EpollFd(), EPOLL_CTL_ADD, wake_.fd(), &ev) == 0;
}

void RingReader::StopThread() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  wake_.Signal();
  space_cv_.notify_all();
  thread_.join();
}

// Frees the kernel side and lets go of JS: runs exactly once, whatever happened while delivering.
void RingReader::Release() {
  if (released_) return;
  released_ = true;
  source_.reset();  // closes the epoll fd and unmaps the buffers now, not at garbage collection
  wake_.Close();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& b : queue_) abandoned_.fetch_add(b->count, std::memory_order_relaxed);
    queue_.clear();
  }
  tsfn_.Release();  // its finalizer drops our reference once queued calls are done
  callback_.Reset();
  after_delivery_.Reset();
}

// stop(): stops the thread (returns within about coalesceMs), delivers what is still queued, releases the kernel
// buffers and the callback. Returns the final stats. When the callback throws while the last batches are delivered,
// everything is still released (the batches not delivered are counted as `abandoned`) and the error goes to JS.
Napi::Value RingReader::Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!stopped_) {
    stopped_ = true;  // queued tsfn calls now return at once: we deliver here
    StopThread();
    struct ReleaseOnExit {
      RingReader* self;
      ~ReleaseOnExit() { self->Release(); }
    } release{this};
    if (current_ && current_->count > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(current_));
      current_ = std::make_unique<Batch>();
    }
    DeliverQueued(env, callback_.Value(), true);
  }
  return Stats(info);
}

Napi::Value RingReader::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("transport", transport_);
  o.Set("records", Napi::Number::New(env, static_cast<double>(records_.load())));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes_.load())));
  o.Set("batches", Napi::Number::New(env, static_cast<double>(batches_.load())));
  o.Set("callbacks", Napi::Number::New(env, static_cast<double>(callbacks_.load())));
  o.Set("stalledMs", Napi::Number::New(env, static_cast<double>(stalled_ns_.load()) / 1e6));
  o.Set("sleeps", Napi::Number::New(env, static_cast<double>(sleeps_.load())));
  o.Set("pollErrors", Napi::Number::New(env, static_cast<double>(poll_errors_.load())));
  uint64_t lost = source_ ? source_->Lost() : lost_.load();
  o.Set("lostSamples", Napi::Number::New(env, static_cast<double>(lost)));
  o.Set("abandoned", Napi::Number::New(env, static_cast<double>(abandoned_.load())));
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
