// One row of a published-runs table (the columns of experiments/validation/published_runs.csv)
// read into the experiment it describes: the machine from the `gpu` column, the framework's
// habits from the `framework` column, the parallel plan, and the knobs the row leaves blank.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "models/experiment.hpp"
#include "validation/validation.hpp"

namespace parallax::sim {

// Knobs a row leaves blank: validate predicts the best plan over them that fits.
struct BlankKnobs {
  bool micro_batch = false, vpp = false, recompute = false, sequence_parallel = false, ep = false;
  bool layout = false;                 // tp or pp: PublishedRow::layouts holds every one to try
  bool optimizer_state = false;        // the framework offers bf16 moments beside its default
  bool distributed_optimizer = false;  // a blank optimizer_sharding the framework could run
  bool whole_layer_recompute = false;  // a blank recompute: the framework offers none or full only
};

struct PublishedRow {
  ValidationRow row;      // ids and published figures; row.skipped says why it cannot be checked
  Experiment experiment;  // the plan as published (valid unless skipped)
  BlankKnobs blank;
  std::vector<Experiment> layouts;  // with blank.layout: the plan under each valid tp x pp x dp
};

PublishedRow read_published_row(const std::map<std::string, std::string>& row,
                                const std::vector<CalibrationOverride>& overrides);
// A row that cannot be checked: its ids and model, and why.
ValidationRow unchecked_row(const std::map<std::string, std::string>& row, const std::string& why);

}  // namespace parallax::sim
