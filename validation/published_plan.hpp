// What a published row says of how its plan ran: the framework's habits (the `framework` and
// `optimizer_sharding` columns), the parallel degrees and overlaps, the batch, recomputation,
// precision and optimizer state, and the knobs the row leaves blank. read_published_row
// (validation/published_row.cpp) reads the rest: ids, measurements, machine and model.
#pragma once
#include <string>

#include "models/framework_profile.hpp"
#include "validation/published_cells.hpp"
#include "validation/published_row.hpp"

namespace parallax::sim {

// The framework a row names, as the plan's readers need it.
struct Framework {
  std::string name, sharding;    // the framework and optimizer_sharding cells, lowered
  bool deepspeed = false;        // its pipeline partition and --set deepspeed.KEY
  bool local_ddp = false;        // Megatron-LM's --DDP-impl local
  bool embedding_named = false;  // DeepSpeed's "type:transformer|embedding" partition
  std::string profile;           // of models/presets/frameworks/, by framework and year
};
Framework framework_of(const cells::Row& row);

// The degrees and the optimizer-state sharding, on e.system's devices (InputError for hybrid
// sharding); `moe_text` is the row's text that names experts.
void read_degrees(const cells::Row& row, const Framework& fw, const std::string& moe_text, Experiment& e,
                  BlankKnobs& blank);
// How the framework runs the plan (its profile, and the flags the row names), its constants, and
// the blank knobs it could run; `arch` is the lowered arch_notes. After read_training.
void read_habits(const cells::Row& row, const Framework& fw, const FrameworkProfile& profile, const std::string& arch,
                 Experiment& e, BlankKnobs& blank);
// Batch, recomputation, precision (InputError for a format the model does not time) and the
// optimizer state.
void read_training(const cells::Row& row, Experiment& e, BlankKnobs& blank);

// A block recomputation of N layers holds to the plan's fullest chunk.
void hold_block_to_chunk(Experiment& e);
// How the layers are cut into pipeline stages, for the row's pp.
void split_layers(Experiment& e, bool deepspeed, bool embedding_named);

}  // namespace parallax::sim
