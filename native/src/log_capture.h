// libbpf prints its diagnostics (including the verifier log) through one global callback. We capture what it
// prints during each call into a per-thread buffer, so every error we return carries the kernel's own words.
#pragma once
#include <string>

namespace tapio {

void InstallLibbpfLogger();

// Captures libbpf output on this thread while alive.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  std::string Text() const;
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

 private:
  std::string buffer_;
  std::string* previous_;
};

// "<what>: <strerror(-err)> (errno N)" plus the captured log, trimmed to a readable size.
std::string ErrorText(const std::string& what, int err, const std::string& log);

}  // namespace tapio
