// Where the model's weights and activations live under fp32 and under mixed precision: the
// 16-bit weights and their fp32 view, the 16-bit activations and the fp32 buffers a layer
// computes in, the messages pipeline stages exchange.
#include <algorithm>

#include "exec/gpt.hpp"

namespace parallax::exec {

namespace {
constexpr int X = 0;
}  // namespace

void Gpt::allocate_storage() {
  if (fsdp_) {
    shard_blocks_ = even_blocks(static_cast<long>(params_.size()), layout_.dp);
    for (int r = 0; r < layout_.dp_rank; ++r) shard_begin_ += shard_blocks_[r];
  }
  if (mixed() || fsdp_) view_at_.assign(tensors_.size(), -1);
  if (!mixed()) return;
  params16_.assign(params_.size(), 0);
  long at = 0;
  for (int a = 0; a < ACTS_PER_LAYER; ++a) compute_at_.push_back(at), at += kept_sizes_.layer[a];
  compute_at_.push_back(at), at += activation_size();  // X
  compute_at_.push_back(at), at += activation_size();  // the head's LNF
  compute_.assign(at, 0.0f);
  workspace16_.assign(acts_.workspace16_size(), 0);
}

void Gpt::cast_weights() {
  if (mixed()) k_.cast_to_16bit(params16_.data(), params_.data(), static_cast<long>(params_.size()), precision_);
}

void Gpt::shard_weights() {
  if (!fsdp_) return;
  const long count = shard_blocks_[layout_.dp_rank];
  k_.synchronize();  // the blocks are moved on the host
  auto keep_block = [&](auto& weights) {
    if (weights.empty()) return;
    std::copy_n(weights.begin() + shard_begin_, count, weights.begin());
    weights.resize(count);
    weights.shrink_to_fit();
  };
  keep_block(params_);
  keep_block(params16_);
}

void Gpt::gather_weights(long begin, long end, float* to) {
  std::vector<long> counts;
  long at = 0;
  for (long block : shard_blocks_) {  // each rank's part of [begin, end)
    counts.push_back(std::max(0L, std::min(end, at + block) - std::max(begin, at)));
    at += block;
  }
  const long from = std::max(begin, shard_begin_), mine = counts[layout_.dp_rank];
  if (!mixed()) {
    if (mine > 0) k_.copy(to + (from - begin), params_.data() + (from - shard_begin_), mine * sizeof(float));
    dp_->all_gather(to, counts);
    return;
  }
  gathered16_.resize(end - begin);
  if (mine > 0)
    k_.copy(gathered16_.data() + (from - begin), params16_.data() + (from - shard_begin_),
            mine * sizeof(std::uint16_t));
  dp_->all_gather(gathered16_.data(), counts, message_dtype());
  k_.cast_from_16bit(to, gathered16_.data(), end - begin, precision_);
}

void Gpt::view_weights(std::initializer_list<std::pair<int, int>> ranges) {
  if (!mixed() && !fsdp_) return;
  std::fill(view_at_.begin(), view_at_.end(), -1);
  long size = 0;
  for (const auto& [first, last] : ranges)
    for (int i = first; i <= last; ++i) view_at_[i] = size, size += tensors_[i].size;
  if (static_cast<long>(view_.size()) < size) view_.resize(size);
  for (const auto& [first, last] : ranges) {
    const long begin = tensors_[first].offset, end = tensors_[last].offset + tensors_[last].size;
    if (fsdp_)
      gather_weights(begin, end, view_.data() + view_at_[first]);
    else
      k_.cast_from_16bit(view_.data() + view_at_[first], params16_.data() + begin, end - begin, precision_);
  }
}

double Gpt::work_bytes() const {
  const double view = fsdp_ ? 0 : static_cast<double>(view_.size());  // FSDP's gathered layer counts as weights
  const double transient = static_cast<double>(acts_.transient_size());
  return static_cast<double>(dacts_.size() + scratch_.size() + compute_.size() + gathered_.size()) * sizeof(float) +
         transient * sizeof(float) + view * sizeof(float) +
         static_cast<double>(input_grad16_.size()) * sizeof(std::uint16_t);
}

long Gpt::act_size(int chunk, int i) const {
  const int layers = chunks_[chunk].layers;
  if (i == X) return kept_sizes_.layer[RES3];
  if (i < ActivationLayout::head_index(layers, 0)) return kept_sizes_.layer[(i - 1) % ACTS_PER_LAYER];
  return kept_sizes_.head[i - ActivationLayout::head_index(layers, 0)];
}

float* Gpt::act(State& s, int chunk, int i) {
  const ActivationLayout::Place at = acts_.place(chunk, i);
  if (!at.half) return (at.kept ? s.acts.data() : workspace_.data()) + at.offset;
  const int head = ActivationLayout::head_index(chunks_[chunk].layers, 0);
  const int slot = i == X ? ACTS_PER_LAYER : i >= head ? ACTS_PER_LAYER + 1 : (i - 1) % ACTS_PER_LAYER;
  return compute_.data() + compute_at_[slot];
}

std::uint16_t* Gpt::home16(State& s, int chunk, int i) {
  const ActivationLayout::Place at = acts_.place(chunk, i);
  return (at.kept ? s.acts16.data() : workspace16_.data()) + at.offset;
}

void Gpt::stash(State& s, int chunk, int i) {
  if (acts_.place(chunk, i).half)
    k_.cast_to_16bit(home16(s, chunk, i), act(s, chunk, i), act_size(chunk, i), precision_);
}

void Gpt::unstash(State& s, int chunk, int i) {
  if (acts_.place(chunk, i).half)
    k_.cast_from_16bit(act(s, chunk, i), home16(s, chunk, i), act_size(chunk, i), precision_);
}

void Gpt::stash_layer(State& s, int chunk, int layer, bool kept_only) {
  if (!mixed()) return;
  for (int a = 0; a < ACTS_PER_LAYER; ++a) {
    const int i = ActivationLayout::layer_index(layer, a);
    if (!kept_only || acts_.place(chunk, i).kept) stash(s, chunk, i);
  }
}

void Gpt::unstash_layer(State& s, int chunk, int layer) {
  if (!mixed()) return;
  for (int a = 0; a < ACTS_PER_LAYER; ++a)
    if (a != RES3) unstash(s, chunk, ActivationLayout::layer_index(layer, a));
}

void Gpt::take_input(State& s, int chunk, const void* x) {
  if (!mixed()) {
    k_.copy(act(s, chunk, X), x, activation_size() * sizeof(float));
    return;
  }
  k_.copy(home16(s, chunk, X), x, activation_size() * sizeof(std::uint16_t));
  unstash(s, chunk, X);
}

const void* Gpt::output(int chunk, int mb) const {
  const Chunk& c = chunks_[chunk];
  const int i = c.layers > 0 ? ActivationLayout::layer_index(c.layers - 1, RES3) : X;
  const ActivationLayout::Place at = acts_.place(chunk, i);  // a chunk's output is kept
  const State& s = states_.at({chunk, mb});
  if (at.half) return s.acts16.data() + at.offset;
  return s.acts.data() + at.offset;
}

const void* Gpt::input_grad() {
  const float* d = dacts_.data() + first_row_ * C_;
  if (!mixed()) return d;
  input_grad16_.resize(activation_size());
  k_.cast_to_16bit(input_grad16_.data(), d, activation_size(), precision_);
  return input_grad16_.data();
}

}  // namespace parallax::exec
