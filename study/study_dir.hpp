// A study's directory: what `parallax study` writes and what status, resume and collect read.
//   DIR/study.json                  the plans, the launcher and its settings, the parallax binary
//   DIR/study.toml                  the study file as given
//   DIR/plans/NN-PLAN/experiment.toml, results.h5 (its prediction, then its measured runs),
//                     status (one line: pending, running, finished, failed, cancelled, with
//                     the job or process), log.txt
//   DIR/slurm/                      the job-array scripts, their output, and the job ids
#pragma once
#include <string>
#include <vector>

#include "study/study_plans.hpp"
#include "study/study_spec.hpp"

namespace parallax::study {

struct PlanEntry {
  std::string dir;  // "plans/00-t1p1d2m4", relative to the study's directory
  std::string name;
  int ranks = 1, nodes = 1, tasks_per_node = 1;
};

struct Manifest {
  std::string name, launcher, parallax;  // parallax: the binary's absolute path
  int repeats = 1;
  SlurmSettings slurm;
  std::vector<PlanEntry> plans;
};

// The manifest of a new study: plan i in "plans/NN-PLAN".
Manifest manifest_of(const StudySpec& spec, const std::vector<StudyPlan>& plans, const std::string& parallax);

// Writes the directory of a new study: InputError if `dir` already holds one (resume it) or
// cannot be written. Each plan's results file starts with the plan's prediction.
Manifest create_study(const std::string& dir, const std::string& study_text, const Manifest& m,
                      const std::vector<StudyPlan>& plans);
// InputError when `dir` holds no study or its study.json is damaged.
Manifest read_manifest(const std::string& dir);

// Where a plan stands: from its results file (finished measured runs) and its status line.
struct PlanStatus {
  PlanEntry plan;
  // pending, submitted, running, finished, incomplete (ended well short of its runs), failed,
  // cancelled, interrupted, lost (its job or process gone), broken (its results file or status
  // line unreadable)
  std::string state;
  std::string detail;  // the status line's details, or what is wrong with the results file
  std::string job;     // job=ID or pid=PID@HOST, if it was started
  int finished_runs = 0;
  bool needs_run(int repeats) const {
    return state != "finished" && state != "running" && state != "submitted" && state != "broken" &&
           finished_runs < repeats;
  }
};

// `alive` answers whether the job or process named by a status line still runs.
std::vector<PlanStatus> study_status(const std::string& dir, const Manifest& m, bool (*alive)(const std::string& job));

// Writes a plan's status line ("STATE key=value ...") atomically.
void write_status(const std::string& dir, const PlanEntry& plan, const std::string& line);

}  // namespace parallax::study
