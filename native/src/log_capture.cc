#include "log_capture.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace tapio {

static thread_local std::string* current_capture = nullptr;

static int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (current_capture == nullptr) return 0;  // not inside a captured call: stay quiet
  if (level == LIBBPF_DEBUG) return 0;
  char line[4096];
  int n = vsnprintf(line, sizeof(line), format, args);
  if (n > 0 && current_capture->size() < (1 << 20)) current_capture->append(line);
  return n;
}

void InstallLibbpfLogger() {
  libbpf_set_print(LibbpfPrint);
}

LogCapture::LogCapture() : previous_(current_capture) {
  current_capture = &buffer_;
}
LogCapture::~LogCapture() {
  current_capture = previous_;
}
std::string LogCapture::Text() const {
  return buffer_;
}

std::string ErrorText(const std::string& what, int err, const std::string& log) {
  int e = err < 0 ? -err : err;
  std::string text = what + ": " + strerror(e) + " (errno " + std::to_string(e) + ")";
  if (!log.empty()) {
    std::string trimmed = log;
    const size_t limit = 16 * 1024;  // verifier logs can be megabytes; keep the head and the tail
    if (trimmed.size() > limit) {
      trimmed = trimmed.substr(0, limit / 2) + "\n...[" + std::to_string(log.size() - limit) + " bytes cut]...\n" +
                trimmed.substr(trimmed.size() - limit / 2);
    }
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
    text += "\n" + trimmed;
  }
  return text;
}

}  // namespace tapio
