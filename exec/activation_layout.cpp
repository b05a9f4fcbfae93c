#include "exec/activation_layout.hpp"

#include <algorithm>

namespace parallax::exec {

RecomputePolicy recompute_policy(const TrainingConfig& t) {
  return {t.recompute, t.recompute_method, t.recompute_layers};
}

std::vector<std::pair<int, int>> recompute_groups(const RecomputePolicy& p, int chunk_layers) {
  std::vector<std::pair<int, int>> out;
  if (p.recompute != Recompute::full) return out;
  if (p.method == RecomputeMethod::uniform) {
    const int size = std::max(1, p.layers);
    for (int first = 0; first < chunk_layers; first += size)
      out.emplace_back(first, std::min(chunk_layers, first + size) - 1);
  } else {
    const int count = p.layers == 0 ? chunk_layers : std::min(p.layers, chunk_layers);
    for (int l = 0; l < count; ++l) out.emplace_back(l, l);
  }
  return out;
}

ActivationLayout::ActivationLayout(const std::vector<Chunk>& chunks, const Sizes& kept_sizes, const Sizes& grad_sizes,
                                   const RecomputePolicy& policy, const Halves& halves) {
  const std::vector<long>& layer_sizes = kept_sizes.layer;
  auto half_layer = [&](int a) { return !halves.layer.empty() && halves.layer[a]; };
  auto half_head = [&](int a) { return !halves.head.empty() && halves.head[a]; };
  // The projections' outputs are read only by the residual additions right after them: one
  // fp32 place at the start of the workspace serves them all, and no state keeps them.
  const long transient = std::max(layer_sizes[ATTPROJ], layer_sizes[FCPROJ]);
  workspace_size_ = transient_size_ = transient;
  auto passing = [](int a) { return a == ATTPROJ || a == FCPROJ; };
  // Where activation a of a recomputed layer sits within the layer's part of the workspace
  // (its fp32 part or its 16-bit part).
  std::vector<long> within(ACTS_PER_LAYER, 0);
  long layer_total = 0, layer_total16 = 0;
  for (int a = 0; a < ACTS_PER_LAYER; ++a) {
    if (passing(a)) continue;
    long& total = half_layer(a) ? layer_total16 : layer_total;
    within[a] = total, total += layer_sizes[a];
  }
  for (const Chunk& c : chunks) {
    groups_.push_back(recompute_groups(policy, c.layers));
    // For each layer: the group it is recomputed in (its first layer and whether it ends it), if any.
    std::vector<int> group_first(c.layers, -1);
    std::vector<bool> group_end(c.layers, false);
    for (const auto& [first, last] : groups_.back()) {
      for (int l = first; l <= last; ++l) group_first[l] = first;
      group_end[last] = true;
    }
    std::vector<Place> places;
    std::vector<long> grads;
    long kept = 0, kept16 = 0, grad = 0;
    auto keep = [&](long size, bool half) {
      long& at = half ? kept16 : kept;
      places.push_back({true, half, at});
      at += size;
    };
    keep(layer_sizes[RES3], half_layer(RES3));  // X: the size of a layer's input
    grads.push_back(grad), grad += grad_sizes.layer[RES3];
    for (int l = 0; l < c.layers; ++l)
      for (int a = 0; a < ACTS_PER_LAYER; ++a) {
        grads.push_back(grad), grad += a == PROBS ? 0 : grad_sizes.layer[a];  // the attention's scratch holds dP
        if (passing(a)) {
          places.push_back({false, false, 0});
          continue;
        }
        // A recomputed layer keeps only its group's output: the next group's input.
        if (group_first[l] < 0 || (a == RES3 && group_end[l])) {
          keep(layer_sizes[a], half_layer(a));
          continue;
        }
        const int n = l - group_first[l];
        if (half_layer(a)) {
          const long work = n * layer_total16 + within[a];
          places.push_back({false, true, work});
          workspace16_size_ = std::max(workspace16_size_, work + layer_sizes[a]);
        } else {
          const long work = transient + n * layer_total + within[a];
          places.push_back({false, false, work});
          workspace_size_ = std::max(workspace_size_, work + layer_sizes[a]);
        }
      }
    if (c.head)
      for (int a = 0; a < HEAD_ACTS; ++a)
        keep(kept_sizes.head[a], half_head(a)), grads.push_back(grad), grad += grad_sizes.head[a];
    places_.push_back(std::move(places));
    grad_offsets_.push_back(std::move(grads));
    state_sizes_.push_back(kept);
    state16_sizes_.push_back(kept16);
    grad_sizes_.push_back(grad);
  }
}

long ActivationLayout::largest_grad_size() const {
  long most = 0;
  for (long s : grad_sizes_) most = std::max(most, s);
  return most;
}

}  // namespace parallax::exec
