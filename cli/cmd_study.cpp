// `parallax study STUDY.toml --dir DIR [--dry-run]` and `study status|resume|collect DIR`: the
// plans of a scaling study run locally or as Slurm job arrays, followed, resumed and collected.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.hpp"
#include "models/toml_section.hpp"
#include "results/merge.hpp"
#include "study/launch.hpp"
#include "study/study_dir.hpp"

namespace parallax::cli {

namespace {

namespace fs = std::filesystem;

std::string this_binary() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw InputError("cannot find this program's path (/proc/self/exe): " + ec.message());
  return self.string();
}

void print_plans(const std::vector<study::StudyPlan>& plans) {
  std::printf("%-4s %-16s %6s %6s %10s %10s %-11s %-9s\n", "#", "plan", "ranks", "nodes", "gbatch", "steps",
              "recompute", "precision");
  for (size_t i = 0; i < plans.size(); ++i) {
    const auto& e = plans[i].config;
    std::printf("%-4zu %-16s %6d %6d %10d %10d %-11s %-9s\n", i, plans[i].name.c_str(), plans[i].ranks, plans[i].nodes,
                e.training.global_batch, e.training.steps, to_string(e.training.recompute).c_str(),
                to_string(e.training.precision).c_str());
  }
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Launches the tasks (or, dry, prints how): returns the exit status.
int launch(const std::string& dir, const study::Manifest& m, const std::vector<study::Task>& tasks, bool dry) {
  if (tasks.empty()) {
    std::printf("nothing to run: every plan has its runs, or is running\n");
    return 0;
  }
  if (m.launcher == "slurm") {
    const auto scripts = study::slurm_scripts(dir, m, tasks);
    if (dry) {
      for (const auto& s : scripts) std::printf("%s\n", s.text.c_str());
      return 0;
    }
    study::submit(dir, scripts);
    return 0;
  }
  if (dry) {
    for (const auto& t : tasks)
      for (int r = 0; r < t.runs; ++r) std::printf("%s\n", joined(study::local_command(dir, m, t.plan)).c_str());
    return 0;
  }
  const exec::StopSignals stop;
  return study::run_local(dir, m, tasks, stop);
}

std::vector<study::Task> all_tasks(const study::Manifest& m) {
  std::vector<study::Task> tasks;
  for (size_t i = 0; i < m.plans.size(); ++i) tasks.push_back({static_cast<int>(i), m.plans[i], m.repeats});
  return tasks;
}

int new_study(const std::string& file, const std::vector<std::string>& sets, const std::string& dir, bool dry) {
  std::string text = read_text_file(file, "a study file");
  if (!sets.empty()) {  // the study as run is the file with its overrides
    std::ostringstream with_sets;
    with_sets << parse_with_overrides(text, file, sets);
    text = with_sets.str();
  }
  const study::StudySpec spec = study::load_study_spec_text(text, file);
  const auto plans = study::study_plans(text, file, spec);
  print_plans(plans);
  const study::Manifest m = study::manifest_of(spec, plans, this_binary());
  if (dry) return launch(dir, m, all_tasks(m), true);
  study::create_study(dir, text, m, plans);
  std::printf("wrote %zu plan(s) under %s\n", m.plans.size(), dir.c_str());
  return launch(dir, m, all_tasks(m), false);
}

int print_status(const std::string& dir, bool json) {
  const study::Manifest m = study::read_manifest(dir);
  const auto statuses = study::study_status(dir, m, study::job_alive);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : statuses)
      out.push_back({{"plan", s.plan.dir},
                     {"state", s.state},
                     {"finished_runs", s.finished_runs},
                     {"repeats", m.repeats},
                     {"job", s.job},
                     {"detail", s.detail}});
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%-28s %-11s %5s %-22s %s\n", "plan", "state", "runs", "job", "detail");
  int finished = 0;
  for (const auto& s : statuses) {
    std::printf("%-28s %-11s %2d/%-2d %-22s %s\n", s.plan.dir.c_str(), s.state.c_str(), s.finished_runs, m.repeats,
                s.job.c_str(), s.detail.c_str());
    finished += s.state == "finished";
  }
  std::printf("%d of %zu plans finished\n", finished, statuses.size());
  return 0;
}

int resume(const std::string& dir, bool dry) {
  const study::Manifest m = study::read_manifest(dir);
  std::vector<study::Task> tasks;
  const auto statuses = study::study_status(dir, m, study::job_alive);
  for (size_t i = 0; i < statuses.size(); ++i) {
    const auto& s = statuses[i];
    if (s.state == "broken")
      std::fprintf(stderr, "parallax: %s is left as it is: %s\n", s.plan.dir.c_str(), s.detail.c_str());
    if (s.needs_run(m.repeats)) {
      tasks.push_back({static_cast<int>(i), s.plan, m.repeats - s.finished_runs});
      std::printf("%s: %s, %d of %d run(s) finished: again\n", s.plan.dir.c_str(), s.state.c_str(), s.finished_runs,
                  m.repeats);
    }
  }
  return launch(dir, m, tasks, dry);
}

int collect(const std::string& dir, const std::string& out) {
  const study::Manifest m = study::read_manifest(dir);
  std::vector<std::string> inputs;
  for (const auto& p : m.plans) inputs.push_back((fs::path(dir) / p.dir / "results.h5").string());
  print_merge(results::merge_results(inputs, out, true), out);
  return 0;
}

}  // namespace

Runner add_study(CLI::App& app) {
  struct Args {
    std::string file, dir, out, format = "table";
    std::vector<std::string> sets;
    bool dry = false;
  };
  auto args = std::make_shared<Args>();
  app.add_option("study", args->file, "Experiment file with a [study] section");
  app.add_option("--dir", args->dir, "Directory to write the study in");
  app.add_option("--set", args->sets, "Override a key: section.key=value (repeatable)");
  app.add_flag("--dry-run", args->dry, "Print the plans and the scripts or commands; write and submit nothing");
  CLI::App* status = app.add_subcommand("status", "Where each plan of a study stands");
  status->add_option("dir", args->dir, "The study's directory")->required();
  status->add_option("--format", args->format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  CLI::App* again = app.add_subcommand("resume", "Run or submit again the plans without their finished runs");
  again->add_option("dir", args->dir, "The study's directory")->required();
  again->add_flag("--dry-run", args->dry, "Print what would run; submit nothing");
  CLI::App* gather = app.add_subcommand("collect", "Merge every plan's results file into one");
  gather->add_option("dir", args->dir, "The study's directory")->required();
  gather->add_option("--out", args->out, "Results file to add them to")->required();
  app.require_subcommand(0, 1);
  return [args, status, again, gather] {
    if (status->parsed()) return print_status(args->dir, args->format == "json");
    if (again->parsed()) return resume(args->dir, args->dry);
    if (gather->parsed()) return collect(args->dir, args->out);
    if (args->file.empty() || args->dir.empty())
      throw InputError("study: give STUDY.toml --dir DIR, or status|resume|collect DIR");
    return new_study(args->file, args->sets, args->dir, args->dry);
  };
}

}  // namespace parallax::cli
