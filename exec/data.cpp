#include "exec/data.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "exec/init_rng.hpp"
#include "models/experiment.hpp"

namespace parallax::exec {

namespace {
constexpr std::int32_t kMagic = 20240520;
constexpr std::int32_t kVersion = 1;
}  // namespace

TokenData::TokenData(const std::string& data, int vocab, int seq_len, std::uint64_t seed) : seq_len_(seq_len) {
  if (data == "synthetic") {
    // Deterministic stream from the seed: enough for 1024 sequences.
    const long count = 1024L * seq_len + 1;
    tokens_.resize(count);
    const std::uint64_t stream = tensor_stream(seed, "synthetic-data");
    for (long i = 0; i < count; ++i) {
      const float u = normal_at(stream, static_cast<std::uint64_t>(i));
      tokens_[i] = static_cast<std::uint16_t>(static_cast<std::uint64_t>(std::fabs(u) * 1e6) % vocab);
    }
  } else {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(data, ec))
      throw InputError("training.data = \"" + data + "\": no such token file (or \"synthetic\")");
    std::ifstream in(data, std::ios::binary);
    std::int32_t header[256];
    if (!in.read(reinterpret_cast<char*>(header), sizeof header))
      throw InputError(data + ": not a token file (shorter than its 1024-byte header)");
    if (header[0] != kMagic)
      throw InputError(data + ": not a token file (magic " + std::to_string(header[0]) + ", expected 20240520)");
    if (header[1] != kVersion)
      throw InputError(data + ": token file version " + std::to_string(header[1]) + " (expected 1)");
    const long count = header[2];
    const auto size = std::filesystem::file_size(data);
    if (count < 0 || size != 1024 + 2ULL * static_cast<unsigned long long>(count))
      throw InputError(data + ": header says " + std::to_string(count) + " tokens but the file holds " +
                       std::to_string((size - 1024) / 2));
    tokens_.resize(count);
    in.read(reinterpret_cast<char*>(tokens_.data()), 2 * count);
    for (long i = 0; i < count; ++i)
      if (tokens_[i] >= vocab)
        throw InputError(data + ": token " + std::to_string(tokens_[i]) + " at position " + std::to_string(i) +
                         " is not below the model's vocabulary (" + std::to_string(vocab) + ")");
  }
  sequences_ = (static_cast<long>(tokens_.size()) - 1) / seq_len;
  if (sequences_ < 1)
    throw InputError(data + ": " + std::to_string(tokens_.size()) + " tokens are fewer than one sequence of " +
                     std::to_string(seq_len) + " + 1");
}

void TokenData::sequences(long first, int count, std::vector<int>& inputs, std::vector<int>& targets) const {
  inputs.resize(static_cast<size_t>(count) * seq_len_);
  targets.resize(inputs.size());
  for (int s = 0; s < count; ++s) {
    const long start = ((first + s) % sequences_) * seq_len_;
    for (int t = 0; t < seq_len_; ++t) {
      inputs[static_cast<size_t>(s) * seq_len_ + t] = tokens_[start + t];
      targets[static_cast<size_t>(s) * seq_len_ + t] = tokens_[start + t + 1];
    }
  }
}

void write_token_file(const std::string& path, const std::vector<std::uint16_t>& tokens) {
  std::int32_t header[256] = {kMagic, kVersion, static_cast<std::int32_t>(tokens.size())};
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  out.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(2 * tokens.size()));
}

}  // namespace parallax::exec
