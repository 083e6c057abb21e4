#include "record_source.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "log_capture.h"

namespace tapio {

namespace {

int WaitOn(int epoll_fd, int timeout_ms) {
  epoll_event ev[8];
  int n = epoll_wait(epoll_fd, ev, 8, timeout_ms);
  return n < 0 ? -errno : n;
}

// ---- BPF ring buffer ----

struct RingBufferFree {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

// A read-only view of one page of the ring map (its consumer or producer position).
struct PageUnmap {
  size_t len;
  void operator()(void* p) const { munmap(p, len); }
};
using Page = std::unique_ptr<void, PageUnmap>;

class RingSource : public RecordSource {
 public:
  RingSource(int fd, RecordSink sink, void* ctx) : sink_(sink), ctx_(ctx) {
    LogCapture capture;
    rb_.reset(ring_buffer__new(fd, &RingSource::OnSample, this, nullptr));
    if (!rb_) throw std::runtime_error(ErrorText("open ring buffer", -errno, capture.Text()));
    bpf_map_info info;
    memset(&info, 0, sizeof(info));
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) ring_bytes_ = info.max_entries;
    // Our own views of the consumer and producer positions, to see how full the ring is while records accumulate
    // during the coalescing delay (libbpf 1.1 has no API for it). Without them we drain at once (see FillingUp).
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* cons = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
    if (cons != MAP_FAILED) consumer_ = Page(cons, PageUnmap{page});
    void* prod = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page));
    if (prod != MAP_FAILED) producer_ = Page(prod, PageUnmap{page});
  }

  int Wait(int timeout_ms) override { return WaitOn(EpollFd(), timeout_ms); }
  int EpollFd() const override { return ring_buffer__epoll_fd(rb_.get()); }

  bool Drain(int* error) override {
    full_ = false;
    int n = ring_buffer__consume(rb_.get());
    if (full_) return true;  // our callback stopped libbpf: its return value is ours, not an error
    if (n < 0) *error = n;
    return false;
  }

  uint64_t Pending() const override {
    if (!consumer_ || !producer_) return UINT64_MAX;
    return Pos(producer_) - Pos(consumer_);
  }
  uint64_t Threshold() const override { return ring_bytes_ / 8; }

  void MarkEnd() override { until_ = producer_ ? Pos(producer_) : 0; }
  bool ReachedEnd() const override { return !consumer_ || Pos(consumer_) >= until_; }
  bool WakesOnFirstRecord() const override { return true; }
  const char* Transport() const override { return "ringbuf"; }

 private:
  static uint64_t Pos(const Page& p) {
    return __atomic_load_n(static_cast<const volatile unsigned long*>(p.get()), __ATOMIC_ACQUIRE);
  }
  static int OnSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<RingSource*>(ctx);
    self->full_ = self->sink_(self->ctx_, data, size);
    return self->full_ ? -1 : 0;  // any negative value stops libbpf; full_ tells Drain it was us
  }

  RecordSink sink_;
  void* ctx_;
  std::unique_ptr<ring_buffer, RingBufferFree> rb_;
  Page consumer_{nullptr, PageUnmap{0}};
  Page producer_{nullptr, PageUnmap{0}};
  uint64_t ring_bytes_ = 0;
  uint64_t until_ = 0;
  bool full_ = false;
};

// ---- perf event array: one perf buffer per CPU ----

struct PerfBufferFree {
  void operator()(perf_buffer* pb) const { perf_buffer__free(pb); }
};

class PerfSource : public RecordSource {
 public:
  PerfSource(int fd, size_t pages, RecordSink sink, void* ctx) : sink_(sink), ctx_(ctx) {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    // Wake the reader when a buffer is 1/8 full, not per record (libbpf's default): a wakeup per record is the
    // largest cost of a busy buffer. Records below that wait for the reader's next poll (every coalesceMs).
    attr.watermark = 1;
    attr.wakeup_watermark = static_cast<__u32>(pages * page / 8);
    LogCapture capture;
    pb_.reset(perf_buffer__new_raw(fd, pages, &attr, &PerfSource::OnEvent, this, nullptr));
    if (!pb_) throw std::runtime_error(ErrorText("open perf buffers", -errno, capture.Text()));
    size_t n = perf_buffer__buffer_cnt(pb_.get());
    for (size_t i = 0; i < n; i++) {
      void* base = nullptr;
      size_t size = 0;
      if (perf_buffer__buffer(pb_.get(), static_cast<int>(i), &base, &size) != 0) continue;
      headers_.push_back(static_cast<perf_event_mmap_page*>(base));
      data_bytes_ = size;
    }
    until_.assign(headers_.size(), 0);
  }

  int Wait(int timeout_ms) override { return WaitOn(EpollFd(), timeout_ms); }
  int EpollFd() const override { return perf_buffer__epoll_fd(pb_.get()); }

  bool Drain(int* error) override {
    size_t n = perf_buffer__buffer_cnt(pb_.get());
    // Start where the last full batch stopped, so a busy CPU cannot keep the others waiting.
    for (size_t k = 0; k < n; k++) {
      size_t i = (next_ + k) % n;
      full_ = false;
      int err = perf_buffer__consume_buffer(pb_.get(), i);
      if (full_) {
        next_ = i;
        return true;
      }
      if (err < 0) *error = err;
    }
    return false;
  }

  uint64_t Pending() const override {
    if (headers_.empty()) return UINT64_MAX;
    uint64_t most = 0;
    for (auto* h : headers_) most = std::max(most, Head(h) - Tail(h));
    return most;
  }
  uint64_t Threshold() const override { return data_bytes_ / 8; }

  void MarkEnd() override {
    for (size_t i = 0; i < headers_.size(); i++) until_[i] = Head(headers_[i]);
  }
  bool ReachedEnd() const override {
    for (size_t i = 0; i < headers_.size(); i++) {
      if (Tail(headers_[i]) < until_[i]) return false;
    }
    return true;
  }
  bool WakesOnFirstRecord() const override { return false; }
  uint64_t Lost() const override { return lost_.load(std::memory_order_relaxed); }
  const char* Transport() const override { return "perf"; }

 private:
  static uint64_t Head(perf_event_mmap_page* h) { return __atomic_load_n(&h->data_head, __ATOMIC_ACQUIRE); }
  static uint64_t Tail(perf_event_mmap_page* h) { return __atomic_load_n(&h->data_tail, __ATOMIC_ACQUIRE); }

  static bpf_perf_event_ret OnEvent(void* ctx, int cpu, perf_event_header* e) {
    auto* self = static_cast<PerfSource*>(ctx);
    if (e->type == PERF_RECORD_SAMPLE) {
      // PERF_SAMPLE_RAW: a u32 size, then the bytes (the kernel pads them so the record stays 8-byte aligned;
      // every Tapio record carries its own size in its header).
      struct Sample {
        perf_event_header header;
        uint32_t size;
        char data[];
      };
      auto* s = reinterpret_cast<Sample*>(e);
      self->full_ = self->sink_(self->ctx_, s->data, s->size);
      return self->full_ ? LIBBPF_PERF_EVENT_DONE : LIBBPF_PERF_EVENT_CONT;
    }
    if (e->type == PERF_RECORD_LOST) {
      struct Lost {
        perf_event_header header;
        uint64_t id;
        uint64_t lost;
      };
      self->lost_.fetch_add(reinterpret_cast<Lost*>(e)->lost, std::memory_order_relaxed);
    }
    return LIBBPF_PERF_EVENT_CONT;
  }

  RecordSink sink_;
  void* ctx_;
  std::unique_ptr<perf_buffer, PerfBufferFree> pb_;
  std::vector<perf_event_mmap_page*> headers_;  // owned by pb_
  std::vector<uint64_t> until_;
  size_t data_bytes_ = 0;
  size_t next_ = 0;
  bool full_ = false;
  std::atomic<uint64_t> lost_{0};
};

}  // namespace

std::unique_ptr<RecordSource> OpenRingSource(int map_fd, RecordSink sink, void* ctx) {
  return std::make_unique<RingSource>(map_fd, sink, ctx);
}

std::unique_ptr<RecordSource> OpenPerfSource(int map_fd, size_t pages_per_cpu, RecordSink sink, void* ctx) {
  return std::make_unique<PerfSource>(map_fd, pages_per_cpu, sink, ctx);
}

}  // namespace tapio
