// Small formatting helpers shared by the commands.
#pragma once
#include <string>

#include "models/experiment.hpp"

namespace parallax::cli {

inline double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

// Compact plan name, e.g. "t8p4d2m1v2" (tp, pp, dp, micro-batch, vpp when interleaved).
inline std::string plan_name(const Experiment& e) {
  std::string s = "t" + std::to_string(e.parallel.tp) + "p" + std::to_string(e.parallel.pp) + "d" +
                  std::to_string(e.parallel.dp) + "m" + std::to_string(e.training.micro_batch);
  if (e.parallel.vpp > 1) s += "v" + std::to_string(e.parallel.vpp);
  return s;
}

}  // namespace parallax::cli
