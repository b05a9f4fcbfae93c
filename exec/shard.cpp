#include "exec/shard.hpp"

#include "sim/layer_costs.hpp"

namespace parallax::exec {

std::vector<int> virtual_stage_layers(const ModelConfig& m, const Layout& l) {
  const int stages = l.pp * l.vpp;
  if (l.stage_layers.empty()) return std::vector<int>(stages, m.layers / stages);
  std::vector<int> out(stages);
  for (int r = 0; r < l.pp; ++r) {
    const int n = l.stage_layers.at(r), base = n / l.vpp, extra = n % l.vpp;
    for (int c = 0; c < l.vpp; ++c) {
      const bool longer = r == 0 ? c >= l.vpp - extra : c < extra;
      out[c * l.pp + r] = base + (longer ? 1 : 0);
    }
  }
  return out;
}

std::vector<Chunk> chunks_of(const ModelConfig& m, const Layout& l) {
  const int stages = l.pp * l.vpp;
  const std::vector<int> layers = virtual_stage_layers(m, l);
  std::vector<Chunk> out;
  for (int c = 0; c < l.vpp; ++c) {
    Chunk k;
    k.virtual_stage = c * l.pp + l.pp_rank;
    for (int vs = 0; vs < k.virtual_stage; ++vs) k.first_layer += layers[vs];
    k.layers = layers[k.virtual_stage];
    k.embedding = k.virtual_stage == 0;
    k.head = k.virtual_stage == stages - 1;
    out.push_back(k);
  }
  return out;
}

std::vector<ParamTensor> rank_tensors(const ModelConfig& m, const Layout& l) {
  const long C = m.hidden, V = m.vocab, T = m.seq_len, tp = l.tp;
  std::vector<ParamTensor> out;
  auto add = [&](const std::string& name, std::vector<long> shape, Split split, bool decay) {
    ParamTensor t{name, shape, shape, split, 0, 1, decay, split != Split::none || l.tp_rank == 0};
    if (split == Split::columns) t.local_shape[1] /= tp;
    if (split == Split::rows || split == Split::qkv_rows) t.local_shape[0] /= tp;
    if (name == "transformer.wte.weight") t.local_shape[0] = sim::padded_vocab(m, l.tp) / tp;
    for (long d : t.local_shape) t.size *= d;
    if (!out.empty()) t.offset = out.back().offset + out.back().size;
    out.push_back(t);
  };
  const auto chunks = chunks_of(m, l);
  bool embedding = false, head = false;
  for (const auto& c : chunks) embedding |= c.embedding, head |= c.head;
  if (embedding || head) {
    add("transformer.wte.weight", {V, C}, Split::rows, true);
    if (!embedding) out.back().primary = false;  // the LM head's copy on the last stage
  }
  if (embedding) add("transformer.wpe.weight", {T, C}, Split::none, true);
  for (const auto& c : chunks)
    for (int layer = c.first_layer; layer < c.first_layer + c.layers; ++layer) {
      const std::string h = "transformer.h." + std::to_string(layer) + ".";
      add(h + "ln_1.weight", {C}, Split::none, false);
      add(h + "ln_1.bias", {C}, Split::none, false);
      add(h + "attn.c_attn.weight", {3 * C, C}, Split::qkv_rows, true);
      add(h + "attn.c_attn.bias", {3 * C}, Split::qkv_rows, false);
      add(h + "attn.c_proj.weight", {C, C}, Split::columns, true);
      add(h + "attn.c_proj.bias", {C}, Split::none, false);
      add(h + "ln_2.weight", {C}, Split::none, false);
      add(h + "ln_2.bias", {C}, Split::none, false);
      add(h + "mlp.c_fc.weight", {4 * C, C}, Split::rows, true);
      add(h + "mlp.c_fc.bias", {4 * C}, Split::rows, false);
      add(h + "mlp.c_proj.weight", {C, 4 * C}, Split::columns, true);
      add(h + "mlp.c_proj.bias", {C}, Split::none, false);
    }
  if (head) {
    add("transformer.ln_f.weight", {C}, Split::none, false);
    add("transformer.ln_f.bias", {C}, Split::none, false);
  }
  return out;
}

int pipeline_rank_of(const ModelConfig& m, const Layout& l, const std::string& name) {
  const int stages = l.pp * l.vpp;
  const std::string prefix = "transformer.h.";
  if (name.rfind(prefix, 0) == 0) {
    const int layer = std::stoi(name.substr(prefix.size()));
    const std::vector<int> layers = virtual_stage_layers(m, l);
    for (int vs = 0, first = 0; vs < stages; first += layers[vs++])
      if (layer < first + layers[vs]) return vs % l.pp;
    throw InputError("no layer " + std::to_string(layer) + " in a model of " + std::to_string(m.layers));
  }
  if (name.rfind("transformer.ln_f.", 0) == 0) return (stages - 1) % l.pp;
  return 0;
}

std::vector<long> even_blocks(long n, int parts) {
  const long block = (n + parts - 1) / parts;
  std::vector<long> out;
  for (int i = 0; i < parts; ++i) out.push_back(std::max(0L, std::min(n, (i + 1) * block) - i * block));
  return out;
}

long whole_index(const ParamTensor& t, int tp, int tp_rank, long i) {
  const long cols = t.local_shape.size() > 1 ? t.local_shape[1] : 1;
  const long row = i / cols, col = i % cols;
  const long whole_cols = t.shape.size() > 1 ? t.shape[1] : 1;
  switch (t.split) {
    case Split::none:
      return i;
    case Split::columns:
      return row * whole_cols + tp_rank * cols + col;
    case Split::rows: {
      const long whole_row = tp_rank * t.local_shape[0] + row;
      return whole_row < t.shape[0] ? whole_row * whole_cols + col : -1;
    }
    case Split::qkv_rows: {
      const long part = t.shape[0] / 3, local_part = part / tp;  // rows of q, k or v: whole, and per rank
      const long whole_row = (row / local_part) * part + tp_rank * local_part + row % local_part;
      return whole_row * whole_cols + col;
    }
  }
  return -1;
}

void slice_from_whole(const ParamTensor& t, int tp, int tp_rank, const float* whole, float* slice) {
  for (long i = 0; i < t.size; ++i) {
    const long w = whole_index(t, tp, tp_rank, i);
    slice[i] = w >= 0 ? whole[w] : 0.0f;
  }
}

void slice_to_whole(const ParamTensor& t, int tp, int tp_rank, const float* slice, float* whole) {
  for (long i = 0; i < t.size; ++i) {
    const long w = whole_index(t, tp, tp_rank, i);
    if (w >= 0) whole[w] = slice[i];
  }
}

}  // namespace parallax::exec
