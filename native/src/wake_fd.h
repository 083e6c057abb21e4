// An eventfd a reader thread waits on beside its kernel source, so stop() wakes it at once: the thread's idle wait
// then need not be short to keep stop() quick (short waits woke every idle reader 20 times a second).
#pragma once
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace tapio {

class WakeFd {
 public:
  WakeFd() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~WakeFd() { Close(); }
  // At stop, once the thread is joined: no fd outlives the reader's stop().
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  // -1 when no eventfd could be made (the reader then keeps its short idle wait).
  int fd() const { return fd_; }
  // Readable from now on (level-triggered: every later wait returns at once).
  void Signal() const {
    uint64_t one = 1;
    if (fd_ >= 0) (void)!write(fd_, &one, sizeof(one));
  }

 private:
  int fd_;
};

}  // namespace tapio
