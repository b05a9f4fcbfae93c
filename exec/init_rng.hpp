// Counter-based random numbers for initialisation: element i of the tensor named `name` is a
// pure function of (seed, name, i), so a tensor-parallel shard can generate exactly its slice
// of the whole tensor.
#pragma once
#include <cstdint>
#include <string>

namespace parallax::exec {

std::uint64_t tensor_stream(std::uint64_t seed, const std::string& name);
// Standard normal for element `index` of a stream (Box-Muller on two splitmix64 draws).
float normal_at(std::uint64_t stream, std::uint64_t index);

}  // namespace parallax::exec
