// Reads the experiment TOML of the contract (docs: interfaces §1) into an Experiment,
// filling presets and defaults, applying `--set section.key=value` overrides, and
// rejecting unknown keys and ill-typed values with one line that names the key.
#pragma once
#include <string>
#include <vector>

#include "models/experiment.hpp"

namespace parallax {

// check_plan = false skips the parallel plan's checks (for `sweep`, which chooses the plan).
Experiment load_experiment_file(const std::string& path, const std::vector<std::string>& overrides = {},
                                bool check_plan = true);
Experiment load_experiment_text(const std::string& text, const std::string& source,
                                const std::vector<std::string>& overrides = {}, bool check_plan = true);

ModelConfig model_preset(const std::string& name);
// One node of the system preset (gpus = gpus_per_node) unless the caller sets gpus.
SystemConfig system_preset(const std::string& name);

// A system described in a TOML file: the fields of a system preset, with its device's as a table
// (`[device]`) or a preset name; keys carry their units (memory_GiB, memory_GBps, bandwidth_GBps,
// latency_us). InputError for a missing or malformed file.
SystemConfig system_file(const std::string& path);

// Sets one calibration constant by its TOML key (InputError for an unknown key).
void set_calibration(Calibration& c, const std::string& key, double value);

}  // namespace parallax
