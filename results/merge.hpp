// `parallax merge` and `parallax study collect`: the runs, sweeps and benchmarks of several
// results files copied whole into one (interfaces §5), in one staged commit.
#pragma once
#include <string>
#include <vector>

namespace parallax::results {

struct MergeReport {
  int added = 0;    // groups copied
  int present = 0;  // groups the output already held (the same id, started at the same time)
  int renamed = 0;  // groups copied under a new id, theirs being taken by another
  // Inputs left out, each as "PATH: why", when the merge was asked to go on past them.
  std::vector<std::string> unreadable;
};

// Copies every /runs/<id>, /sweeps/<id> and /benchmarks/<id> of `inputs` into `out` (created if
// absent; never rewritten but by adding). A group already there under its id, with the same
// `started_utc` or `created_utc`, is the same one and is not copied twice, so merging again
// adds nothing. An input that is not a readable results file is InputError, or, with
// `skip_unreadable`, left out and named in the report.
MergeReport merge_results(const std::vector<std::string>& inputs, const std::string& out, bool skip_unreadable);

}  // namespace parallax::results
