// The CUDA backend is a module of its own (libparallax_cuda.so, built beside the executable
// wherever the CUDA toolkit is), loaded the first time a run asks for a GPU: the executable
// never maps CUDA's libraries (cuBLASLt alone is half a gigabyte of relocations) unless it uses
// them, and runs on machines without them.
#pragma once
#include <string>

#include "models/experiment.hpp"

namespace parallax::kernels {

// A symbol of the module, or nullptr when this build has no CUDA backend or the module cannot be
// loaded (*why_not, when given, says which). Looked for in $PARALLAX_CUDA_MODULE, beside the
// executable, one folder above it (tests/), then where the build put it.
void* cuda_symbol(const char* name, std::string* why_not = nullptr);

// A function of the module, typed as the module defines it; InputError naming why when there is none.
template <class F>
F* cuda_function(const char* name) {
  std::string why;
  void* f = cuda_symbol(name, &why);
  if (!f) throw InputError("the CUDA backend: " + why);
  return reinterpret_cast<F*>(f);
}

}  // namespace parallax::kernels
