// The fully resolved experiment as JSON (the `config` object of the contract's outputs).
#pragma once
#include <nlohmann/json.hpp>

#include "models/experiment.hpp"

namespace parallax {
nlohmann::json to_json(const Experiment& e);
}
