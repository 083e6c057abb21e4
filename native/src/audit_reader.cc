#include "audit_reader.h"

#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tapio {

// The kernel sends one record per datagram, at most MAX_AUDIT_MESSAGE_LENGTH (8970) bytes of payload plus a header.
static constexpr size_t kMaxDatagram = 16384;

static uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

Napi::Function AuditReader::Init(Napi::Env env) {
  return DefineClass(env, "AuditReader",
                     {InstanceMethod("stop", &AuditReader::Stop), InstanceMethod("stats", &AuditReader::Stats)});
}

// new AuditReader({ coalesceMs, batchRecords, queueBatches, receiveBufferBytes }, onBatch(buffer, count))
AuditReader::AuditReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AuditReader>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "AuditReader(options, onBatch)");
  }
  Napi::Object o = info[0].As<Napi::Object>();
  auto num = [&](const char* key, uint32_t def) {
    return o.Has(key) && o.Get(key).IsNumber() ? o.Get(key).As<Napi::Number>().Uint32Value() : def;
  };
  coalesce_ms_ = num("coalesceMs", 5);
  batch_records_ = num("batchRecords", 1024);
  queue_batches_ = num("queueBatches", 16);
  int rcvbuf = static_cast<int>(num("receiveBufferBytes", 4u << 20));
  if (coalesce_ms_ < 1) coalesce_ms_ = 1;
  if (batch_records_ < 1) batch_records_ = 1;
  if (queue_batches_ < 1) queue_batches_ = 1;

  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd_ < 0) {
    throw Napi::Error::New(env, std::string("audit: socket(AF_NETLINK, NETLINK_AUDIT): ") + strerror(errno) +
                                    " (is audit compiled into this kernel?)");
  }
  // Best effort: a larger buffer rides out bursts; the kernel caps it at rmem_max without CAP_NET_ADMIN.
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_nl addr;
  memset(&addr, 0, sizeof(addr));
  addr.nl_family = AF_NETLINK;
  addr.nl_pid = 0;  // let the kernel pick our port id
  addr.nl_groups = AUDIT_NLGRP_READLOG;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    throw Napi::Error::New(env, std::string("audit: bind to the read-only multicast group: ") + strerror(err) +
                                    (err == EPERM ? " (needs CAP_AUDIT_READ)" : ""));
  }

  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  Ref();  // dropped by the tsfn finalizer, after every queued call ran (see RingReader)
  tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "tapio-audit-reader", 0, 1,
                                        [this](Napi::Env) { Unref(); });
  current_ = std::make_unique<Batch>();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tapio-audit");  // so top -H and per-thread accounting can tell it apart
    Run();
  });
}

AuditReader::~AuditReader() {
  StopThread();
  if (fd_ >= 0) close(fd_);
}

// Queue the current batch for JS; when JS is behind (queue full) the batch is dropped and counted, because the
// kernel will not wait for us.
void AuditReader::Flush() {
  if (current_->count == 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= queue_batches_) {
      queue_drops_.fetch_add(current_->count, std::memory_order_relaxed);
      current_->bytes.clear();
      current_->count = 0;
      return;
    }
    queue_.push_back(std::move(current_));
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  current_ = std::make_unique<Batch>();
  if (!call_pending_.exchange(true)) {
    if (tsfn_.NonBlockingCall(this, &AuditReader::CallJs) != napi_ok) call_pending_.store(false);
  }
}

void AuditReader::Run() {
  const uint64_t coalesce_ns = static_cast<uint64_t>(coalesce_ms_) * 1000000ull;
  std::vector<uint8_t> buf(kMaxDatagram);
  while (!stop_.load()) {
    // Datagrams wake poll() themselves and stop() signals the wake fd, so with it there is nothing to time out for
    // (it woke an idle agent once a second); without it, the timeout bounds how long stop() waits.
    int timeout_ms = wake_.fd() >= 0 ? -1 : 50;
    if (current_->count > 0) {
      uint64_t age = MonoNs() - current_->first_ns;
      if (age >= coalesce_ns) {
        Flush();
        continue;
      }
      timeout_ms = static_cast<int>((coalesce_ns - age) / 1000000ull) + 1;
    }
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
    int n = poll(p, wake_.fd() >= 0 ? 2 : 1, timeout_ms);
    if (n <= 0 || p[0].revents == 0) continue;  // errors (POLLERR: an overrun) are recv()'s to report
    for (;;) {
      ssize_t got = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
      if (got < 0) {
        if (errno == ENOBUFS) {
          socket_overruns_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          recv_errors_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      Batch& b = *current_;
      if (b.count == 0) b.first_ns = MonoNs();
      size_t size = static_cast<size_t>(got);
      size_t at = b.bytes.size();
      size_t padded = (size + 7) & ~static_cast<size_t>(7);
      b.bytes.resize(at + 8 + padded);
      uint32_t len = static_cast<uint32_t>(size);
      memcpy(b.bytes.data() + at, &len, 4);
      memset(b.bytes.data() + at + 4, 0, 4 + padded);
      memcpy(b.bytes.data() + at + 8, buf.data(), size);
      b.count++;
      datagrams_.fetch_add(1, std::memory_order_relaxed);
      bytes_.fetch_add(size, std::memory_order_relaxed);
      if (b.count >= batch_records_) Flush();
    }
  }
}

void AuditReader::DeliverQueued(Napi::Env env, Napi::Function callback, bool all) {
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
    auto* vec = new std::vector<uint8_t>(std::move(b->bytes));
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, vec->data(), vec->size(), [](Napi::Env, void*, std::vector<uint8_t>* v) { delete v; }, vec);
    callbacks_.fetch_add(1, std::memory_order_relaxed);
    callback.Call({ab, Napi::Number::New(env, b->count)});
  }
}

void AuditReader::CallJs(Napi::Env env, Napi::Function callback, AuditReader* self) {
  if (env == nullptr) return;
  self->call_pending_.store(false);
  if (self->stopped_) return;
  self->DeliverQueued(env, callback, false);
}

void AuditReader::StopThread() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  wake_.Signal();
  thread_.join();
}

// stop(): stops the thread (at once), delivers what is queued, closes the socket. Returns the final stats.
Napi::Value AuditReader::Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!stopped_) {
    StopThread();
    if (current_ && current_->count > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(current_));
      current_ = std::make_unique<Batch>();
    }
    DeliverQueued(env, callback_.Value(), true);
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    wake_.Close();
    stopped_ = true;
    tsfn_.Release();
    callback_.Reset();
  }
  return Stats(info);
}

Napi::Value AuditReader::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("datagrams", Napi::Number::New(env, static_cast<double>(datagrams_.load())));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes_.load())));
  o.Set("batches", Napi::Number::New(env, static_cast<double>(batches_.load())));
  o.Set("callbacks", Napi::Number::New(env, static_cast<double>(callbacks_.load())));
  o.Set("queueDrops", Napi::Number::New(env, static_cast<double>(queue_drops_.load())));
  o.Set("socketOverruns", Napi::Number::New(env, static_cast<double>(socket_overruns_.load())));
  o.Set("recvErrors", Napi::Number::New(env, static_cast<double>(recv_errors_.load())));
  o.Set("running", !stopped_);
  return o;
}

}  // namespace tapio
