// The `parallax` subcommands. Each registers its options on the CLI11 app and returns the
// callback that runs it; main() maps InputError to exit status 2.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

#include "results/merge.hpp"
#include "results/staged_file.hpp"

namespace parallax::cli {

using Runner = std::function<int()>;

// Ends the program with this status, its reason already reported (by another rank, say).
struct ExitStatus {
  int code;
};

Runner add_predict(CLI::App& app);
Runner add_sweep(CLI::App& app);
Runner add_run(CLI::App& app);
Runner add_validate(CLI::App& app);
Runner add_models(CLI::App& app);
Runner add_systems(CLI::App& app);
Runner add_frameworks(CLI::App& app);
Runner add_bench(CLI::App& app);
Runner add_compare(CLI::App& app);
Runner add_calibrate(CLI::App& app);
Runner add_merge(CLI::App& app);
Runner add_study(CLI::App& app);

// What a merge added, and the inputs it left out (on stderr) (`merge`, `study collect`).
void print_merge(const results::MergeReport& r, const std::string& out);

// Writes `text` to `path` through a staged file (results/staged_file.hpp).
using results::write_file_atomically;

}  // namespace parallax::cli
