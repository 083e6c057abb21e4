// Which fds the addon handed out to JS, and the shape of every map among them. Map calls take key and value sizes
// from here (never from JS), so a wrong-sized Buffer is refused instead of overflowing the heap; closeFd closes
// only fds the addon opened. Filled by BpfObject (maps and programs, forgotten again at close) and enableRunStats.
#pragma once
#include <cstdint>
#include <string>

namespace tapio {

struct MapShape {
  std::string name;
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  // What the kernel copies in and out per entry: value_size, or for per-CPU maps the value rounded up to 8 bytes
  // times the possible CPUs.
  uint32_t value_bytes = 0;
  uint32_t max_entries = 0;
};

// Reads the map's bpf_map_info once and remembers it; returns 0 or -errno.
int RegisterMapFd(int fd);
// Copies the shape of a registered map into *out; false when fd is not a map fd the addon handed out.
bool FindMap(int fd, MapShape* out);
// An fd JS may close with closeFd (a BPF stats fd).
void RegisterClosableFd(int fd);
// Forgets a map fd (its object closes it).
void ForgetMapFd(int fd);
// True (and forgotten) when fd is a closable fd, which the caller then closes; false for any other fd.
bool TakeClosableFd(int fd);

}  // namespace tapio
