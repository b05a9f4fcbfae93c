#include "kernels/cuda_module.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace parallax::kernels {

namespace {
struct Loaded {
  void* handle = nullptr;
  std::string error;
};

// Loaded once per process; the handle stays open until exit.
const Loaded& module() {
  static const Loaded loaded = [] {
    Loaded l;
#ifndef PARALLAX_CUDA_MODULE_DIR
    l.error = "this build has no CUDA backend (CMake found no CUDA toolkit)";
#else
    namespace fs = std::filesystem;
    const std::string file = "libparallax_cuda.so";
    std::vector<fs::path> candidates;
    if (const char* given = std::getenv("PARALLAX_CUDA_MODULE"); given && *given) candidates.emplace_back(given);
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
      candidates.push_back(self.parent_path() / file), candidates.push_back(self.parent_path().parent_path() / file);
    candidates.push_back(fs::path(PARALLAX_CUDA_MODULE_DIR) / file);
    for (const auto& path : candidates) {
      if (!fs::exists(path, ec)) continue;
      l.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (l.handle) return l;
      l.error = dlerror();
      return l;
    }
    l.error = file + " is not beside the executable (set PARALLAX_CUDA_MODULE to its path)";
#endif
    return l;
  }();
  return loaded;
}
}  // namespace

void* cuda_symbol(const char* name, std::string* why_not) {
  const Loaded& m = module();
  if (!m.handle) {
    if (why_not) *why_not = m.error;
    return nullptr;
  }
  void* symbol = dlsym(m.handle, name);
  if (!symbol && why_not) *why_not = std::string("the CUDA module has no ") + name;
  return symbol;
}

}  // namespace parallax::kernels
