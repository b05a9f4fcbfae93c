// `parallax merge A.h5 B.h5 ... --out R.h5`: the runs, sweeps and benchmarks of several results
// files in one.
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "results/merge.hpp"

namespace parallax::cli {

void print_merge(const results::MergeReport& r, const std::string& out) {
  std::printf("%s: %d added", out.c_str(), r.added);
  if (r.renamed) std::printf(" (%d under a new id, theirs being taken)", r.renamed);
  std::printf(", %d already there\n", r.present);
  for (const auto& why : r.unreadable) std::fprintf(stderr, "parallax: left out %s\n", why.c_str());
}

Runner add_merge(CLI::App& app) {
  struct Args {
    std::vector<std::string> inputs;
    std::string out;
    bool skip = false;
  };
  auto args = std::make_shared<Args>();
  app.add_option("inputs", args->inputs, "Results files to merge")->required();
  app.add_option("--out", args->out, "Results file to add them to (created if absent)")->required();
  app.add_flag("--skip-unreadable", args->skip, "Leave out, and name, inputs that are not readable results files");
  return [args] {
    const auto report = results::merge_results(args->inputs, args->out, args->skip);
    print_merge(report, args->out);
    return 0;
  };
}

}  // namespace parallax::cli
