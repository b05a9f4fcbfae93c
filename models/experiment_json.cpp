#include "models/experiment_json.hpp"

namespace parallax {

namespace {
using nlohmann::json;

json model_json(const ModelConfig& m) {
  json j = {{"name", m.name},
            {"layers", m.layers},
            {"hidden", m.hidden},
            {"heads", m.heads},
            {"kv_heads", m.kv_heads},
            {"ffn_hidden", m.ffn_hidden},
            {"seq_len", m.seq_len},
            {"vocab", m.vocab},
            {"norm", to_string(m.norm)},
            {"activation", to_string(m.activation)},
            {"position", to_string(m.position)},
            {"tied_embeddings", m.tied_embeddings},
            {"dropout", m.dropout}};
  if (m.moe()) {
    j["experts"] = m.experts;
    j["top_k"] = m.top_k;
    j["moe_ffn_hidden"] = m.moe_ffn_hidden;
  }
  return j;
}

json system_json(const SystemConfig& s) {
  const auto& d = s.device;
  const auto& c = s.calibration;
  return {{"name", s.name},
          {"gpus", s.gpus},
          {"nodes", s.nodes()},
          {"gpus_per_node", s.gpus_per_node},
          {"memory_headroom_fraction", s.memory_headroom_fraction},
          {"memory_headroom_gib", s.memory_headroom_gib},
          {"device",
           {{"name", d.name},
            {"sms", d.sms},
            {"peak_tflops_fp32", d.peak_tflops_fp32},
            {"peak_tflops_fp16", d.peak_tflops_fp16},
            {"peak_tflops_bf16", d.peak_tflops_bf16},
            {"peak_tflops_fp8", d.peak_tflops_fp8},
            {"peak_tflops_vector_fp16", d.peak_tflops_vector_fp16},
            {"memory_gib", d.memory_gib},
            {"memory_gbps", d.memory_gbps}}},
          {"intra_node", {{"bandwidth_gbps", s.intra_node.bandwidth_gbps}, {"latency_us", s.intra_node.latency_us}}},
          {"inter_node", {{"bandwidth_gbps", s.inter_node.bandwidth_gbps}, {"latency_us", s.inter_node.latency_us}}},
          {"calibration",
           {{"gemm_efficiency", c.gemm_efficiency},
            {"gemm_k_half", c.gemm_k_half},
            {"gemm_tile_m", c.gemm_tile_m},
            {"gemm_tile_n", c.gemm_tile_n},
            {"misaligned_gemm_efficiency", c.misaligned_gemm_efficiency},
            {"memory_efficiency", c.memory_efficiency},
            {"kernel_launch_us", c.kernel_launch_us},
            {"flash_attention_efficiency", c.flash_attention_efficiency},
            {"busbw_efficiency_intra", c.busbw_efficiency_intra},
            {"busbw_efficiency_inter", c.busbw_efficiency_inter},
            {"p2p_efficiency_inter", c.p2p_efficiency_inter},
            {"memory_overhead_gib", c.memory_overhead_gib},
            {"pass_overhead_us", c.pass_overhead_us},
            {"dp_reduce_efficiency", c.dp_reduce_efficiency},
            {"thread_efficiency", c.thread_efficiency},
            {"activation_memory_factor", c.activation_memory_factor}}}};
}

json parallel_json(const ParallelConfig& p) {
  json j = {{"tp", p.tp},
            {"pp", p.pp},
            {"dp", p.dp},
            {"cp", p.cp},
            {"ep", p.ep},
            {"vpp", p.vpp},
            {"schedule", to_string(p.schedule)},
            {"sequence_parallel", p.sequence_parallel},
            {"distributed_optimizer", p.distributed_optimizer},
            {"fsdp", p.fsdp},
            {"fsdp_per_tensor", p.fsdp_per_tensor},
            {"shard_gradients", p.shard_gradients},
            {"reshard_after_forward", p.reshard_after_forward},
            {"zero_stage", p.zero_stage()},
            {"overlap_grad_reduce", p.overlap_grad_reduce},
            {"overlap_param_gather", p.overlap_param_gather},
            {"tp_comm_overlap", p.tp_comm_overlap},
            {"async_tp_allreduce", p.async_tp_allreduce},
            {"pipeline_scatter_gather", p.pipeline_scatter_gather},
            {"overlap_p2p_comm", p.overlap_p2p_comm}};
  if (!p.stage_layers.empty()) j["stage_layers"] = p.stage_layers;
  return j;
}

json training_json(const TrainingConfig& t) {
  return {{"global_batch", t.global_batch},
          {"micro_batch", t.micro_batch},
          {"recompute", to_string(t.recompute)},
          {"recompute_layers", t.recompute_layers},
          {"recompute_method", to_string(t.recompute_method)},
          {"precision", to_string(t.precision)},
          {"flash_attention", t.flash_attention},
          {"gradient_accumulation_fusion", t.gradient_accumulation_fusion},
          {"grad_reduce_in_fp32", fp32_gradients(t)},
          {"optimizer_state", to_string(t.optimizer_state)},
          {"backend", t.backend},
          {"framework", t.framework},
          {"steps", t.steps},
          {"lr", t.lr},
          {"min_lr", t.min_lr},
          {"warmup_steps", t.warmup_steps},
          {"lr_schedule", t.lr_schedule},
          {"weight_decay", t.weight_decay},
          {"layerwise_lr_decay", t.layerwise_lr_decay},
          {"initial_loss_scale", t.initial_loss_scale},
          {"min_loss_scale", t.min_loss_scale},
          {"loss_scale_window", t.loss_scale_window},
          {"hysteresis", t.hysteresis},
          {"adam_beta1", t.adam_beta1},
          {"adam_beta2", t.adam_beta2},
          {"adam_eps", t.adam_eps},
          {"grad_clip", t.grad_clip},
          {"seed", t.seed},
          {"data", t.data},
          {"init_from", t.init_from},
          {"log_every", t.log_every},
          {"checkpoint_every", t.checkpoint_every},
          {"checkpoint_dir", t.checkpoint_dir},
          {"resume_from", t.resume_from}};
}
}  // namespace

nlohmann::json to_json(const Experiment& e) {
  json j;
  j["name"] = e.name;
  j["model"] = model_json(e.model);
  j["system"] = system_json(e.system);
  j["parallel"] = parallel_json(e.parallel);
  j["training"] = training_json(e.training);
  return j;
}

}  // namespace parallax
