#include "study/study_dir.hpp"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/toml_section.hpp"
#include "results/read_table.hpp"
#include "results/results_file.hpp"
#include "results/staged_file.hpp"
#include "sim/predict.hpp"

namespace parallax::study {

namespace {

namespace fs = std::filesystem;

nlohmann::json to_json(const Manifest& m) {
  nlohmann::json plans = nlohmann::json::array();
  for (const auto& p : m.plans)
    plans.push_back({{"dir", p.dir},
                     {"name", p.name},
                     {"ranks", p.ranks},
                     {"nodes", p.nodes},
                     {"tasks_per_node", p.tasks_per_node}});
  return {{"schema", "parallax-study"},
          {"schema_version", 1},
          {"name", m.name},
          {"launcher", m.launcher},
          {"parallax", m.parallax},
          {"repeats", m.repeats},
          {"slurm",
           {{"partition", m.slurm.partition},
            {"account", m.slurm.account},
            {"time", m.slurm.time},
            {"gpus_per_node", m.slurm.gpus_per_node},
            {"extra_sbatch", m.slurm.extra_sbatch},
            {"launch", m.slurm.launch}}},
          {"plans", plans}};
}

Manifest from_json(const nlohmann::json& j) {
  if (j.value("schema", "") != "parallax-study" || j.value("schema_version", 0) != 1)
    throw InputError("not a study manifest of this version");
  Manifest m;
  m.name = j.at("name").get<std::string>();
  m.launcher = j.at("launcher").get<std::string>();
  m.parallax = j.at("parallax").get<std::string>();
  m.repeats = j.at("repeats").get<int>();
  const auto& s = j.at("slurm");
  m.slurm = {s.at("partition"),
             s.at("account"),
             s.at("time"),
             s.at("gpus_per_node"),
             s.at("extra_sbatch").get<std::vector<std::string>>(),
             s.at("launch")};
  for (const auto& p : j.at("plans")) {
    PlanEntry e{p.at("dir"), p.at("name"), p.at("ranks"), p.at("nodes"), p.at("tasks_per_node")};
    if (e.dir.find("..") != std::string::npos || fs::path(e.dir).is_absolute())
      throw InputError("plan directory \"" + e.dir + "\" is outside the study");
    m.plans.push_back(e);
  }
  return m;
}

// Measured runs of a plan's results file that finished.
int finished_runs(const std::string& path) {
  results::ResultsReader reader(path);
  int n = 0;
  for (const auto& id : results::group_names(reader.handle(), "runs")) {
    const hid_t run = H5Gopen2(reader.handle(), ("runs/" + id).c_str(), H5P_DEFAULT);
    if (run < 0) continue;
    if (results::string_attribute(run, "kind") == "measured" && results::string_attribute(run, "status") == "finished")
      ++n;
    H5Gclose(run);
  }
  return n;
}

}  // namespace

Manifest manifest_of(const StudySpec& spec, const std::vector<StudyPlan>& plans, const std::string& parallax) {
  Manifest m;
  m.name = plans.empty() ? "study" : plans.front().config.name;
  m.launcher = spec.launcher;
  m.parallax = parallax;
  m.repeats = spec.repeats;
  m.slurm = spec.slurm;
  for (size_t i = 0; i < plans.size(); ++i) {
    std::string dir = i < 10 ? "plans/0" : "plans/";
    dir.append(std::to_string(i)).append("-").append(plans[i].name);
    m.plans.push_back({dir, plans[i].name, plans[i].ranks, plans[i].nodes, plans[i].tasks_per_node});
  }
  return m;
}

Manifest create_study(const std::string& dir, const std::string& study_text, const Manifest& m,
                      const std::vector<StudyPlan>& plans) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "study.json", ec))
    throw InputError(dir + " already holds a study (parallax study status|resume|collect " + dir + ")");
  const sim::IntervalTable intervals = sim::interval_table();
  for (size_t i = 0; i < plans.size(); ++i) {
    const PlanEntry& e = m.plans[i];
    const fs::path plan_dir = fs::path(dir) / e.dir;
    fs::create_directories(plan_dir, ec);
    if (ec) throw InputError(plan_dir.string() + ": cannot create it (" + ec.message() + ")");
    results::write_file_atomically((plan_dir / "experiment.toml").string(), plans[i].experiment);
    sim::PredictOptions options;
    options.timeline = true;
    results::add_predicted_run((plan_dir / "results.h5").string(), plans[i].config,
                               sim::with_interval(sim::predict(plans[i].config, options), plans[i].config, intervals));
    write_status(dir, e, "pending");
  }
  results::write_file_atomically((fs::path(dir) / "study.toml").string(), study_text);
  // Written last: a directory without it is not a study, and can be written again.
  results::write_file_atomically((fs::path(dir) / "study.json").string(), to_json(m).dump(2) + "\n");
  return m;
}

Manifest read_manifest(const std::string& dir) {
  const fs::path path = fs::path(dir) / "study.json";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(dir + " holds no study (no study.json)");
  try {
    return from_json(nlohmann::json::parse(read_text_file(path.string(), "a study manifest")));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string() + " is damaged: " + e.what());
  } catch (const InputError& e) {
    throw InputError(path.string() + ": " + e.what());
  }
}

void write_status(const std::string& dir, const PlanEntry& plan, const std::string& line) {
  results::write_file_atomically((fs::path(dir) / plan.dir / "status").string(), line + "\n");
}

namespace {

// The state, job and details of a plan's status line ("STATE job=... key=value ..."); pending
// when it has none.
void read_status_line(const fs::path& path, PlanStatus& s) {
  std::error_code ec;
  std::string line = fs::exists(path, ec) ? read_text_file(path.string(), "a status line") : "";
  if (const auto end = line.find('\n'); end != std::string::npos) line.resize(end);
  std::istringstream words(line);
  words >> s.state;
  if (s.state.empty()) s.state = "pending";
  for (std::string word; words >> word;) {
    if (word.starts_with("job=") || word.starts_with("pid="))
      s.job = word;
    else
      s.detail += (s.detail.empty() ? "" : " ") + word;
  }
}

}  // namespace

std::vector<PlanStatus> study_status(const std::string& dir, const Manifest& m, bool (*alive)(const std::string&)) {
  std::vector<PlanStatus> out;
  for (const auto& plan : m.plans) {
    PlanStatus s{plan, "pending", "", "", 0};
    const fs::path plan_dir = fs::path(dir) / plan.dir;
    try {
      read_status_line(plan_dir / "status", s);
      s.finished_runs = finished_runs((plan_dir / "results.h5").string());
    } catch (const InputError& e) {
      s.state = "broken";
      s.detail = e.what();
      out.push_back(s);
      continue;
    }
    if (s.finished_runs >= m.repeats)
      s.state = "finished";
    else if ((s.state == "running" || s.state == "submitted") && !alive(s.job))
      s.state = "lost";  // killed outright, or cancelled before it started: its process or job is gone
    else if (s.state == "finished")
      s.state = "incomplete";
    out.push_back(s);
  }
  return out;
}

}  // namespace parallax::study
