#include "sim/resolved_plan.hpp"

namespace parallax::sim {

ResolvedPlan resolve(const Experiment& e) {
  const auto& p = e.parallel;
  return {e, make_schedule(p.schedule, p.pp, p.vpp, e.micro_batches())};
}

}  // namespace parallax::sim
