// A prediction in the contract's `predict --format json` shape.
#pragma once
#include <nlohmann/json.hpp>

#include "models/experiment.hpp"
#include "sim/predict.hpp"

namespace parallax::sim {
nlohmann::json prediction_json(const Experiment& e, const Prediction& p);
}
