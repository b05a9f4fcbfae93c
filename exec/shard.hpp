// Which part of the GPT a rank holds under tensor and pipeline parallelism, and how each of its
// tensors is cut out of the whole one (Megatron: Shoeybi et al. 2019 for the tensor-parallel
// cuts, Narayanan et al. SC21 for the interleaved layer assignment).
//
// Pipeline: chunk c of pipeline rank r is virtual stage c*pp + r; virtual stages hold
// consecutive layers, L/(pp*vpp) each, or with parallel.stage_layers stage r's layers split
// over its vpp chunks (see chunk_layers); virtual stage 0 also holds the embeddings, the last
// one the final LayerNorm and the LM head, which is tied to the token embedding: with pp > 1
// both end stages hold a copy of transformer.wte.weight.
// Tensor parallelism: QKV (by heads, q, k and v alike) and MLP-up are cut by output rows
// (column-parallel), attention-out and MLP-down by input columns (row-parallel), the token
// embedding by vocabulary rows; LayerNorms, positions and the row-parallel biases are whole on
// every TP rank. The vocabulary is padded to a multiple of 128*tp (Megatron's
// make-vocab-size-divisible-by times tp, sim::padded_vocab); padded rows are zero and never stored.
#pragma once
#include <string>
#include <vector>

#include "models/experiment.hpp"

namespace parallax::exec {

struct Layout {
  int tp = 1, tp_rank = 0;
  int pp = 1, pp_rank = 0, vpp = 1;
  int dp_rank = 0;
  std::vector<int> stage_layers;  // layers per pipeline stage; empty = even
  // Sequence parallelism (Korthikanti et al. 2022) over the TP group, when tp > 1.
  bool sequence_parallel = false;
  // FSDP (ZeRO-3) over the DP group of dp ranks: each keeps its block (even_blocks) of the flat
  // weight buffer and gathers a layer's weights when a pass needs them.
  bool fsdp = false;
  int dp = 1;
};

enum class Split { none, rows, columns, qkv_rows };

struct ParamTensor {
  std::string name;               // nanoGPT state_dict key
  std::vector<long> shape;        // the whole tensor, torch layout ([out, in]), vocabulary unpadded
  std::vector<long> local_shape;  // this rank's slice (vocabulary padded)
  Split split = Split::none;
  long offset = 0, size = 0;  // of the slice in the rank's flat parameter buffer
  bool weight_decay = false;  // 2-D weights decay, biases and LayerNorm parameters do not
  // False for a copy whose twin is counted elsewhere: a TP-whole tensor on tp_rank > 0, and
  // the LM head's copy of the tied embedding on the last stage when pp > 1. Such copies are
  // counted once in the gradient norm and saved once in checkpoints.
  bool primary = true;
};

struct Chunk {
  int virtual_stage = 0;
  int first_layer = 0, layers = 0;
  bool embedding = false, head = false;
};

// Layers of every virtual stage, in order. A stage's layers are split over its vpp chunks as
// evenly as they go; where they do not divide, the chunks next to the embedding (first stage)
// or the loss (other stages) take one fewer, as Megatron-Core's account_for_embedding_in_
// pipeline_split and account_for_loss_in_pipeline_split do.
// A layer's parameter tensors, in the order rank_tensors lists them.
enum LayerParam { LN1W, LN1B, QKVW, QKVB, PROJW, PROJB, LN2W, LN2B, FCW, FCB, FCPROJW, FCPROJB, PER_LAYER };

std::vector<int> virtual_stage_layers(const ModelConfig& m, const Layout& l);
std::vector<Chunk> chunks_of(const ModelConfig& m, const Layout& l);
// This rank's tensors in the order of the whole model (embeddings, layers, final LayerNorm),
// with offsets into one flat buffer.
std::vector<ParamTensor> rank_tensors(const ModelConfig& m, const Layout& l);
// The pipeline rank holding tensor `name` (the embedding's: rank 0).
int pipeline_rank_of(const ModelConfig& m, const Layout& l, const std::string& name);

// The rank's flat buffer of n elements split in `parts` consecutive blocks, as ZeRO and FSDP
// shard it over the DP group: ceil(n/parts) elements each, the last ones shorter or empty.
std::vector<long> even_blocks(long n, int parts);

// Index in the whole tensor (row-major, `shape`) of element `i` of this rank's slice, or -1
// for a padded element.
long whole_index(const ParamTensor& t, int tp, int tp_rank, long i);
// Copies between a whole tensor and this rank's slice (padded elements: 0 in the slice).
void slice_from_whole(const ParamTensor& t, int tp, int tp_rank, const float* whole, float* slice);
void slice_to_whole(const ParamTensor& t, int tp, int tp_rank, const float* slice, float* whole);

}  // namespace parallax::exec
