// Where a RingReader's records come from: a BPF ring buffer (one ring shared by every CPU), or, on kernels without
// ring buffers, a perf event array (one perf buffer per CPU). Both hand each record to a sink and stop consuming
// as soon as the sink says its batch is full, so batching, coalescing and the bounded queue stay in RingReader.
// Every resource a source acquires is owned by a unique_ptr, so a constructor that throws releases what it had.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace tapio {

// Takes one record; returns true when the batch is now full (consumption stops after this record).
using RecordSink = bool (*)(void* ctx, const void* data, size_t size);

class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // Waits up to timeout_ms for the kernel to signal records: >0 signalled, 0 timed out, <0 -errno.
  virtual int Wait(int timeout_ms) = 0;
  // The epoll fd Wait() sleeps in (the reader adds its stop eventfd to it).
  virtual int EpollFd() const = 0;
  // Hands waiting records to the sink until it is full (returns true) or nothing is left (false). On a failure,
  // *error is set to -errno.
  virtual bool Drain(int* error) = 0;
  // Bytes waiting in the fullest kernel buffer, and the level at which records should not keep waiting (1/8 of a
  // buffer). Pending() is UINT64_MAX when the fill level cannot be seen.
  virtual uint64_t Pending() const = 0;
  virtual uint64_t Threshold() const = 0;
  bool FillingUp() const { return Pending() >= Threshold(); }
  // At stop: remember how far the producers got; ReachedEnd() once everything up to there was handed out.
  virtual void MarkEnd() = 0;
  virtual bool ReachedEnd() const = 0;
  // Whether producers wake the reader for the first record in an empty buffer (ring: yes; perf: no, so the reader
  // polls at the coalescing interval instead).
  virtual bool WakesOnFirstRecord() const = 0;
  // Records the kernel reported lost (perf only; the BPF side also counts each one as a drop, by kind).
  virtual uint64_t Lost() const { return 0; }
  virtual const char* Transport() const = 0;
};

// Both throw std::runtime_error with libbpf's words when the kernel refuses.
std::unique_ptr<RecordSource> OpenRingSource(int map_fd, RecordSink sink, void* ctx);
std::unique_ptr<RecordSource> OpenPerfSource(int map_fd, size_t pages_per_cpu, RecordSink sink, void* ctx);

}  // namespace tapio
