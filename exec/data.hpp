// Training data: llm.c token files (a header of 256 int32 — magic 20240520, version 1, token
// count — then uint16 tokens) or synthetic tokens. Global batch k holds sequences k*B .. k*B+B-1
// of the stream, sequence i being tokens [i*T, i*T + T] (inputs the first T, targets the last
// T), wrapping round at the end of the stream.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace parallax::exec {

class TokenData {
 public:
  // data = "synthetic" or a token file path. Throws InputError for a missing or corrupt file,
  // or a token >= vocab.
  TokenData(const std::string& data, int vocab, int seq_len, std::uint64_t seed);

  // Inputs and targets (B*T each) of `count` sequences starting at sequence `first`.
  void sequences(long first, int count, std::vector<int>& inputs, std::vector<int>& targets) const;
  long sequence_count() const { return sequences_; }

 private:
  std::vector<std::uint16_t> tokens_;
  int seq_len_;
  long sequences_;
};

// Writes a token file (used by tests and scripts/tokenize_text.py's C++ twin).
void write_token_file(const std::string& path, const std::vector<std::uint16_t>& tokens);

}  // namespace parallax::exec
