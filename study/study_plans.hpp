// The plans of a study, each as the experiment file its runs read: the study's experiment with
// the plan's knobs set, [study] and [sweep] removed, and paths made absolute so that the file
// reads the same from the study's directory or a cluster node.
#pragma once
#include <string>
#include <vector>

#include "models/experiment.hpp"
#include "study/study_spec.hpp"

namespace parallax::study {

struct StudyPlan {
  std::string name;        // as the sweep names it: t2p1d4m2
  std::string experiment;  // the TOML text of its experiment file
  Experiment config;       // that file, loaded and checked
  int ranks = 1;           // one MPI rank per device
  int nodes = 1, tasks_per_node = 1;
};

// InputError naming the plan and key for a plan the experiment cannot hold.
std::vector<StudyPlan> study_plans(const std::string& text, const std::string& source, const StudySpec& spec);

}  // namespace parallax::study
