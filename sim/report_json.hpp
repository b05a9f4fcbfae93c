// A prediction in the contract's `predict --format json` shape.
#pragma once
#include <nlohmann/json.hpp>

#include "models/experiment.hpp"
#include "sim/predict.hpp"

namespace parallax::sim {
// Seconds per part of the iteration, keys as in the contract's `breakdown_s`.
nlohmann::json breakdown_json(const Breakdown& b);
nlohmann::json prediction_json(const Experiment& e, const Prediction& p);
}  // namespace parallax::sim
