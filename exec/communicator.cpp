#include "exec/communicator.hpp"

#include <cstring>

namespace parallax::exec {

void broadcast_bytes(Communicator& group, void* data, long bytes, int root) {
  std::vector<double> words((bytes + sizeof(double) - 1) / sizeof(double), 0.0);
  if (group.rank() == root) std::memcpy(words.data(), data, bytes);
  group.broadcast(words.data(), static_cast<long>(words.size()), root);
  std::memcpy(data, words.data(), bytes);
}

}  // namespace parallax::exec
