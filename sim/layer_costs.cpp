#include "sim/layer_costs.hpp"

#include <algorithm>

#include "sim/collectives.hpp"
#include "sim/gemm_model.hpp"
#include "sim/memory.hpp"
#include "sim/placement.hpp"
#include "sim/sharded_dp.hpp"

namespace parallax::sim {

long long padded_vocab(const ModelConfig& m, int tp) {
  const long long multiple = 128LL * tp;
  return (m.vocab + multiple - 1) / multiple * multiple;
}

namespace {

// The two GEMMs of a linear layer's backward: the data gradient and the weight gradient.
struct BackwardGemms {
  double dgrad = 0, wgrad = 0;
};

// Accumulates the kernels of one pass (forward or backward).
struct KernelSum {
  const Experiment& e;
  Precision precision;  // of everything but the transformer's linear layers (bf16 under fp8)
  double gemm = 0;      // GEMM time
  double other = 0;     // element-wise and attention kernels
  double comm = 0;      // TP collectives
  double ring = 0;      // context-parallel K/V exchange left exposed by the attention it overlaps
  double a2a = 0;       // expert-parallel token dispatch and combine (not overlapped)
  double kernels = 0;

  explicit KernelSum(const Experiment& ex) : e(ex), precision(non_gemm_precision(ex.training.precision)) {}

  double matmul(const Gemm& g, Precision p) {  // returns its time
    const double t = gemm_time(g, e.system, p);
    gemm += t;
    kernels += 1;
    return t;
  }
  double matmul(const Gemm& g) { return matmul(g, precision); }
  // Backward of Y = X*W: dX = dY*W^T and dW = X^T*dY; returns their times.
  BackwardGemms matmul_backward(const Gemm& g, Precision p) {
    const double dgrad = matmul({g.m, g.k, g.n, g.batch}, p);
    return {dgrad, matmul({g.k, g.n, g.m, g.batch}, p)};
  }
  BackwardGemms matmul_backward(const Gemm& g) { return matmul_backward(g, precision); }
  // A linear layer of the transformer, in the run's precision. Under fp8 the 16-bit GEMM input
  // is quantised first (read 2 bytes, write 1): the activation in the forward, the output
  // gradient in the backward; the weights are cast once per iteration (Transformer Engine).
  // Returns the backward's GEMM times (zero in the forward).
  BackwardGemms linear(const Gemm& g, bool backward) {
    const Precision p = e.training.precision;
    if (p == Precision::fp8) memory(3.0 * g.batch * (backward ? g.m * g.n : g.m * g.k));
    if (backward) return matmul_backward(g, p);
    matmul(g, p);
    return {};
  }
  void memory(double bytes) {
    other += memory_time(bytes, e.system) + e.system.calibration.kernel_launch_us * 1e-6;
    kernels += 1;
  }
  void compute(double flops, double efficiency) {
    other +=
        flops / (peak_flops(e.system.device, precision) * efficiency) + e.system.calibration.kernel_launch_us * 1e-6;
    kernels += 1;
  }
  void collective(Collective c, double bytes, double beside = 0) {  // `beside`: GEMM time it runs alongside
    const int tp = e.parallel.tp;
    comm += std::max(0.0, collective_time(c, bytes, tp, group_link(e.system, tp, 1)) - beside);
  }
  double compute_time() const { return gemm + other; }
};

struct Shape {
  double b, s, h, a, kv, d, f, t, c, E, tok, act;  // c: context-parallel ranks; tok: tokens per rank
  bool sp, swiglu, flash;
  double experts, k, ep;  // MoE: experts per layer (0: dense), experts per token, EP ranks
};

Shape shape_of(const Experiment& e) {
  const auto& m = e.model;
  Shape x{};
  x.b = e.training.micro_batch;
  x.s = m.seq_len;
  x.h = m.hidden;
  x.a = m.heads;
  x.t = e.parallel.tp;
  x.c = e.parallel.cp;
  x.kv = std::max(static_cast<double>(m.kv_heads), x.t);  // K/V heads are replicated when tp > groups
  x.d = m.head_dim();
  x.f = m.mlp_width();
  x.experts = m.experts;
  x.k = m.moe() ? m.top_k : 1;
  x.ep = e.parallel.ep;
  x.E = bytes_per_element(e.training.precision);
  x.tok = x.b * x.s / x.c;
  x.sp = e.parallel.sequence_parallel && e.parallel.tp > 1;
  x.act = x.sp ? x.tok * x.h / x.t : x.tok * x.h;  // elements outside the TP regions, per device
  x.swiglu = m.activation == Activation::swiglu;
  x.flash = e.training.flash_attention;
  return x;
}

// QK^T, softmax, dropout and AV as separate kernels (no fused attention).
void attention_core_unfused(KernelSum& p, const Shape& x, bool backward, double heads, double queries) {
  const double scores = x.b * heads * queries * x.s;  // elements of the score tensor
  const Gemm qk{queries, x.s, x.d, x.b * heads};
  const Gemm av{queries, x.d, x.s, x.b * heads};
  if (!backward) {
    p.matmul(qk);
    p.memory(2 * x.E * scores);           // fused scale + causal mask + softmax
    p.memory(2 * x.E * scores + scores);  // dropout: read, write, 1-byte mask
    p.matmul(av);
  } else {
    p.matmul_backward(av);
    p.memory(2 * x.E * scores + scores);
    p.memory(3 * x.E * scores);
    p.matmul_backward(qk);
  }
}

// The attention core (QK^T, softmax, dropout, AV) forward or backward. With context
// parallelism a rank's s/cp queries meet all s keys, the causal work balanced over the ranks
// (each holds chunks i and 2cp-1-i), while K and V travel round the cp ring, overlapped with
// the blocks already here (Megatron-Core / Transformer Engine): forward K,V (an all-gather's
// volume), backward K,V again and their gradients back (a reduce-scatter's).
void attention_core(KernelSum& p, const Shape& x, bool backward, const Experiment& e) {
  const double heads = x.a / x.t;
  const double queries = x.s / x.c;
  const double before = p.compute_time();
  if (x.flash) {
    // FlashAttention (Dao 2022): causal blocks skipped (half the FLOPs); backward does 2.5x forward.
    const double fwd = 4.0 * x.b * queries * x.s * x.d * heads * 0.5;
    p.compute(backward ? 2.5 * fwd : fwd, e.system.calibration.flash_attention_efficiency);
  } else {
    attention_core_unfused(p, x, backward, heads, queries);
  }
  if (x.c > 1) {
    const double kv_bytes = 2.0 * x.E * x.b * queries * x.kv * x.d / x.t * x.c;  // K and V of the whole sequence
    const GroupLink ring = group_link(e.system, static_cast<int>(x.c), static_cast<int>(x.t));
    double comm = collective_time(Collective::all_gather, kv_bytes, static_cast<int>(x.c), ring);
    if (backward) comm += collective_time(Collective::reduce_scatter, kv_bytes, static_cast<int>(x.c), ring);
    p.ring += std::max(0.0, comm - (p.compute_time() - before));
  }
}

// The TP collectives of one pass around a block (Shoeybi et al. 2019 f/g operators): all-reduce,
// or with sequence parallelism all-gather + reduce-scatter (Korthikanti et al. 2022 sec. 4.2.2).
// In the backward, Megatron's column-parallel linear (LinearWithGradAccumulationAndAsync-
// Communication) issues its input gradient's all-reduce, or reduce-scatter under SP, beside its
// weight-gradient GEMM, and under SP first re-gathers its saved input shard beside the
// data-gradient GEMM; only the output gradient's all-gather (SP) waits. `column` holds that
// linear's backward GEMM times (nullptr in the forward); with tp_comm_overlap under SP the
// userbuffer pipeline replaces all this.
void tp_collectives(KernelSum& p, const Shape& x, double bytes, const BackwardGemms* column = nullptr) {
  const auto& par = p.e.parallel;
  if (column && (x.sp || par.async_tp_allreduce) && !(x.sp && par.tp_comm_overlap)) {
    if (x.sp) {
      p.collective(Collective::all_gather, bytes);
      p.collective(Collective::all_gather, bytes, column->dgrad);
      p.collective(Collective::reduce_scatter, bytes, column->wgrad);
    } else {
      p.collective(Collective::all_reduce, bytes, column->wgrad);
    }
    return;
  }
  if (x.sp) {
    p.collective(Collective::all_gather, bytes);
    p.collective(Collective::reduce_scatter, bytes);
  } else {
    p.collective(Collective::all_reduce, bytes);
  }
}

// A dense MLP: up projection, activation, down projection.
void dense_mlp(KernelSum& p, const Shape& x, bool backward) {
  const double up_n = (x.swiglu ? 2.0 : 1.0) * x.f / x.t;
  const BackwardGemms up = p.linear({x.tok, up_n, x.h}, backward);
  p.memory((backward ? 1.5 : 1.0) * (x.swiglu ? 3.0 : 2.0) * x.E * x.tok * x.f / x.t);
  p.linear({x.tok, x.h, x.f / x.t}, backward);
  tp_collectives(p, x, x.E * x.tok * x.h, backward ? &up : nullptr);
}

// A mixture-of-experts MLP as Megatron-Core's all-to-all token dispatcher runs it: router,
// permutation, all-to-all over the EP ranks, all-gather of the k*tokens over the expert's TP
// ranks, the local experts as one grouped GEMM (balanced routing: each of the experts/ep local
// experts gets k*tokens*ep/experts rows), and the same back.
void moe_mlp(KernelSum& p, const Shape& x, bool backward, const Experiment& e) {
  const double routed = x.sp ? x.tok / x.t : x.tok;  // tokens this rank routes
  const double kb = x.k * x.E * routed * x.h;        // bytes of their k copies
  const double local = x.experts / x.ep;
  const double rows = x.k * x.tok * x.ep / x.experts;
  const double up_n = (x.swiglu ? 2.0 : 1.0) * x.f / x.t;
  const double k = backward ? 1.5 : 1.0;
  const Gemm router{routed, x.experts, x.h};
  if (backward)
    p.matmul_backward(router);
  else
    p.matmul(router);
  p.memory(k * 3 * 4.0 * routed * x.experts);  // softmax and top-k in fp32
  p.memory(k * 2 * kb);                        // permute
  const BackwardGemms up = p.linear({rows, up_n, x.h, local}, backward);
  p.memory(k * (x.swiglu ? 3.0 : 2.0) * x.E * x.k * x.tok * x.f / x.t);
  p.linear({rows, x.h, x.f / x.t, local}, backward);
  p.memory(k * 2 * kb);  // unpermute and weighted sum
  tp_collectives(p, x, x.k * x.E * x.tok * x.h, backward ? &up : nullptr);
  if (x.ep > 1) {
    // Each rank's tokens go to every EP rank; across nodes through the rank's own NIC.
    GroupLink link = group_link(e.system, static_cast<int>(x.ep), static_cast<int>(x.t));
    if (link.inter_node) link.busbw = std::min(link.busbw, pair_link(e.system, true).busbw);
    p.a2a += 2 * collective_time(Collective::all_to_all, kb, static_cast<int>(x.ep), link);
  }
}

// Everything of the layer except the attention core, forward or backward. Element-wise
// backward kernels read the saved input and the incoming gradient and write one gradient.
void layer_body(KernelSum& p, const Shape& x, bool backward, const Experiment& e) {
  const double qkv_n = (x.h + 2.0 * x.kv * x.d) / x.t;
  const Gemm qkv{x.tok, qkv_n, x.h}, proj{x.tok, x.h, x.h / x.t};
  const double k = backward ? 1.5 : 1.0;  // element-wise backward moves about 1.5x the bytes
  const double norm = 2 * x.E * x.act;
  const double residual = 3 * x.E * x.act + x.act;  // bias + dropout + residual add, 1-byte mask
  p.memory(k * norm);
  const BackwardGemms column = p.linear(qkv, backward);
  p.linear(proj, backward);
  p.memory(k * residual);
  tp_collectives(p, x, x.E * x.tok * x.h, backward ? &column : nullptr);
  p.memory(k * norm);
  x.experts > 0 ? moe_mlp(p, x, backward, e) : dense_mlp(p, x, backward);
  p.memory(k * residual);
}

// TP communication left on the critical path. With tp_comm_overlap the collectives are
// pipelined with their GEMMs in chunks (Megatron-Core userbuffers); a quarter stays exposed.
double exposed_tp(const KernelSum& p, bool overlap) {
  if (!overlap) return p.comm;
  return std::max(0.25 * p.comm, p.comm - p.gemm);
}

}  // namespace

LayerCost transformer_layer_cost(const Experiment& e) {
  const Shape x = shape_of(e);
  // Megatron-Core pipelines only the all-gather and reduce-scatter of sequence parallelism.
  const bool overlap = e.parallel.tp_comm_overlap && e.parallel.sequence_parallel;
  KernelSum fwd{e}, core_fwd{e}, bwd{e};
  layer_body(fwd, x, false, e);
  attention_core(core_fwd, x, false, e);
  layer_body(bwd, x, true, e);
  attention_core(bwd, x, true, e);

  LayerCost c;
  c.forward.compute = fwd.compute_time() + core_fwd.compute_time();
  // In-layer communication: the TP collectives, the context-parallel K/V ring and the
  // expert-parallel all-to-all.
  c.forward.tp_comm = exposed_tp(fwd, overlap) + core_fwd.ring + fwd.a2a;
  c.backward.compute = bwd.compute_time();
  c.backward.tp_comm = exposed_tp(bwd, overlap) + bwd.ring + bwd.a2a;
  switch (e.training.recompute) {
    case Recompute::none:
      break;
    case Recompute::selective:
      c.backward.recompute = core_fwd.compute_time();
      c.backward.tp_comm += core_fwd.ring;
      break;
    case Recompute::full: {
      const double share = e.recomputed_fraction();
      c.backward.recompute = share * c.forward.compute;
      c.backward.tp_comm += share * c.forward.tp_comm;
      break;
    }
  }
  c.kernels = fwd.kernels + core_fwd.kernels + bwd.kernels;
  add_sharded_traffic(c, e, layer_params_per_device(e.model, e.parallel.tp, e.parallel.ep),
                      layer_expert_params_per_device(e.model, e.parallel.tp, e.parallel.ep),
                      layer_weight_tensors(e.model, e.parallel.ep),
                      e.training.recompute == Recompute::full ? e.recomputed_fraction() : 0.0);
  return c;
}

LayerCost embedding_cost(const Experiment& e) {
  const Shape x = shape_of(e);
  KernelSum fwd{e}, bwd{e};
  // Lookup, position add and dropout; the vocab-parallel lookup ends in an all-reduce
  // (a reduce-scatter with sequence parallelism).
  fwd.memory(4 * x.E * x.tok * x.h);
  const double bytes = x.E * x.tok * x.h;
  fwd.collective(x.sp ? Collective::reduce_scatter : Collective::all_reduce, bytes);
  bwd.memory(3 * 4.0 * x.tok * x.h);  // gradient scattered into the fp32 embedding gradient
  if (x.sp) bwd.collective(Collective::all_gather, bytes);
  LayerCost c;
  c.forward = {fwd.compute_time(), 0, fwd.comm};
  c.backward = {bwd.compute_time(), 0, bwd.comm};
  add_sharded_traffic(c, e, embedding_params_per_device(e.model, e.parallel.tp), 0,
                      {embedding_weight_tensors(e.model), 0});
  return c;
}

LayerCost head_cost(const Experiment& e) {
  const Shape x = shape_of(e);
  const double vocab = static_cast<double>(padded_vocab(e.model, e.parallel.tp)) / x.t;
  const Gemm logits{x.tok, vocab, x.h};
  KernelSum fwd{e}, bwd{e};
  fwd.memory(2 * x.E * x.act);  // final norm
  if (x.sp) fwd.collective(Collective::all_gather, x.E * x.tok * x.h);
  fwd.matmul(logits);
  // Vocab-parallel cross-entropy, unfused (Megatron-Core's VocabParallelCrossEntropy), one
  // kernel per step over the fp32 copy of the logits: cast (read 16-bit, write 4), max (read),
  // subtract it (read, write), exp (read, write), sum (read), divide into the softmax kept for
  // the backward (read, write); three all-reduces of one float per token. Backward: the
  // softmax minus the one-hot, scaled in place (read, write), cast back to 16 bits.
  const double elements = x.tok * vocab;
  for (double bytes : {x.E + 4, 4.0, 8.0, 8.0, 4.0, 8.0}) fwd.memory(elements * bytes);
  for (int i = 0; i < 3; ++i) fwd.collective(Collective::all_reduce, 4.0 * x.tok);
  bwd.memory(elements * 8.0);
  bwd.memory(elements * (4.0 + x.E));
  bwd.matmul_backward(logits);
  if (x.sp)
    bwd.collective(Collective::reduce_scatter, x.E * x.tok * x.h);
  else
    bwd.collective(Collective::all_reduce, x.E * x.tok * x.h);
  bwd.memory(3 * x.E * x.act);
  LayerCost c;
  c.forward = {fwd.compute_time(), 0, fwd.comm};
  c.backward = {bwd.compute_time(), 0, bwd.comm};
  add_sharded_traffic(c, e, head_params_per_device(e.model, e.parallel), 0,
                      {head_weight_tensors(e.model, e.parallel), 0});
  return c;
}

LayerCosts layer_costs(const Experiment& e) { return {transformer_layer_cost(e), embedding_cost(e), head_cost(e)}; }

}  // namespace parallax::sim
