#include <cstdio>

#include "cli/commands.hpp"
#include "models/framework_profile.hpp"
#include "models/presets.hpp"
#include "models/toml_reader.hpp"

namespace parallax::cli {

Runner add_models(CLI::App&) {
  return [] {
    std::printf("%-32s %7s %7s %6s %4s %7s %6s %7s %9s\n", "preset", "layers", "hidden", "heads", "kv", "ffn", "seq",
                "vocab", "params(B)");
    for (const auto& name : preset_names(PresetKind::model)) {
      const ModelConfig m = model_preset(name);
      const double params = m.parameters();
      std::printf("%-32s %7d %7d %6d %4d %7d %6d %7d %9.2f\n", name.c_str(), m.layers, m.hidden, m.heads, m.kv_heads,
                  m.ffn_hidden, m.seq_len, m.vocab, params / 1e9);
    }
    return 0;
  };
}

Runner add_systems(CLI::App&) {
  return [] {
    std::printf("%-20s %-16s %5s %9s %10s %10s %12s %12s\n", "preset", "device", "/node", "mem(GiB)", "bf16 TF/s",
                "fp16 TF/s", "intra GB/s", "inter GB/s");
    for (const auto& name : preset_names(PresetKind::system)) {
      const SystemConfig s = system_preset(name);
      std::printf("%-20s %-16s %5d %9.1f %10.1f %10.1f %12.1f %12.2f\n", name.c_str(), s.device.name.c_str(),
                  s.gpus_per_node, s.device.memory_gib, s.device.peak_tflops_bf16, s.device.peak_tflops_fp16,
                  s.intra_node.bandwidth_gbps, s.inter_node.bandwidth_gbps);
    }
    return 0;
  };
}

Runner add_frameworks(CLI::App&) {
  return [] {
    const auto on = [](const std::optional<bool>& v) { return v ? (*v ? "on" : "off") : "-"; };
    std::printf("%-24s %-19s %-7s %-10s %-10s %-9s %-8s %-9s %s\n", "profile", "family", "flash", "grad-ovl",
                "param-ovl", "tp-ovl", "p2p-ovl", "async-tp", "fitted constants");
    for (const auto& name : framework_names()) {
      const FrameworkProfile f = framework_profile(name);
      char constants[96] = "";
      if (f.pass_overhead_us && f.dp_reduce_efficiency)
        std::snprintf(constants, sizeof constants, "pass_overhead_us %g, dp_reduce_efficiency %g", *f.pass_overhead_us,
                      *f.dp_reduce_efficiency);
      std::printf("%-24s %-19s %-7s %-10s %-10s %-9s %-8s %-9s %s\n", name.c_str(), f.family.c_str(),
                  f.flash_everywhere ? "always" : "hopper", on(f.overlap_grad_reduce), on(f.overlap_param_gather),
                  on(f.tp_comm_overlap), on(f.overlap_p2p_comm), on(f.async_tp_allreduce), constants);
    }
    return 0;
  };
}

}  // namespace parallax::cli
