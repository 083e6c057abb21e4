#include "fd_registry.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <unordered_map>

namespace tapio {

namespace {
std::mutex mu;  // worker threads may load the addon too: one registry per process
std::unordered_map<int, MapShape> maps;
std::set<int> closable;

bool IsPerCpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}
}  // namespace

int RegisterMapFd(int fd) {
  bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  __u32 len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len) != 0) return -errno;
  MapShape s;
  s.name = mi.name;
  s.type = mi.type;
  s.key_size = mi.key_size;
  s.value_size = mi.value_size;
  s.max_entries = mi.max_entries;
  s.value_bytes = mi.value_size;
  if (IsPerCpu(mi.type)) {
    int cpus = libbpf_num_possible_cpus();
    if (cpus < 0) return cpus;
    s.value_bytes = ((mi.value_size + 7) & ~7u) * static_cast<uint32_t>(cpus);
  }
  std::lock_guard<std::mutex> lock(mu);
  maps[fd] = s;
  return 0;
}

bool FindMap(int fd, MapShape* out) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = maps.find(fd);
  if (it == maps.end()) return false;
  *out = it->second;
  return true;
}

void RegisterClosableFd(int fd) {
  std::lock_guard<std::mutex> lock(mu);
  closable.insert(fd);
}

void ForgetMapFd(int fd) {
  std::lock_guard<std::mutex> lock(mu);
  maps.erase(fd);
}

bool TakeClosableFd(int fd) {
  std::lock_guard<std::mutex> lock(mu);
  return closable.erase(fd) > 0;
}

}  // namespace tapio
