#include "study/launch.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <map>
#include <sstream>

#include "results/results_file.hpp"
#include "results/staged_file.hpp"
#include "study/process.hpp"

namespace parallax::study {

namespace {

namespace fs = std::filesystem;

// A word for bash, in single quotes.
std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string absolute(const std::string& dir) { return fs::absolute(dir).lexically_normal().string(); }

std::string script_text(const std::string& dir, const Manifest& m, const std::vector<Task>& tasks) {
  const PlanEntry& shape = tasks.front().plan;
  std::ostringstream s;
  std::string indices, plans, runs;
  for (const auto& t : tasks) {
    const std::string index = std::to_string(t.index);
    indices.append(indices.empty() ? "" : ",").append(index);
    plans.append(" [").append(index).append("]=").append(shell_quoted(t.plan.dir));
    runs.append(" [").append(index).append("]=").append(std::to_string(t.runs));
  }
  s << "#!/bin/bash\n"
    << "# Parallax study \"" << m.name << "\": one array task per plan, each running its plan's experiment\n"
    << "# and marking its status line (written by `parallax study`; see `parallax study status`).\n"
    << "#SBATCH --job-name=parallax-" << m.name << "\n"
    << "#SBATCH --array=" << indices << "\n"
    << "#SBATCH --nodes=" << shape.nodes << "\n"
    << "#SBATCH --ntasks-per-node=" << shape.tasks_per_node << "\n";
  if (m.slurm.gpus_per_node > 0) s << "#SBATCH --gpus-per-node=" << m.slurm.gpus_per_node << "\n";
  if (!m.slurm.partition.empty()) s << "#SBATCH --partition=" << m.slurm.partition << "\n";
  if (!m.slurm.account.empty()) s << "#SBATCH --account=" << m.slurm.account << "\n";
  if (!m.slurm.time.empty()) s << "#SBATCH --time=" << m.slurm.time << "\n";
  s << "#SBATCH --output=" << absolute(dir) << "/slurm/%x-%A_%a.out\n";
  for (const auto& line : m.slurm.extra_sbatch) s << "#SBATCH " << line << "\n";
  const std::string launch = m.slurm.launch == "srun" ? "srun --mpi=pmi2" : "mpiexec -n \"$SLURM_NTASKS\"";
  s << "set -u\n"
    << "cd " << shell_quoted(absolute(dir)) << " || exit 1\n"
    << "declare -A plans=(" << plans << " ) runs=(" << runs << " )\n"
    << "task=$SLURM_ARRAY_TASK_ID\n"
    << "plan=${plans[$task]}\n"
    << "mark() {\n"
    << "  printf '%s job=%s_%s host=%s at=%s\\n' \"$1\" \"$SLURM_ARRAY_JOB_ID\" \"$task\" \"$(hostname)\" "
       "\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" >\"$plan/status.new\" && mv -f \"$plan/status.new\" \"$plan/status\"\n"
    << "}\n"
    << "trap 'mark cancelled; exit 143' TERM\n"
    << "mark running\n"
    << "for ((r = 0; r < ${runs[$task]}; r++)); do\n"
    << "  " << launch << " " << shell_quoted(m.parallax)
    << " run \"$plan/experiment.toml\" --out \"$plan/results.h5\" >>\"$plan/log.txt\" 2>&1 ||\n"
    << "    { rc=$?; mark \"failed rc=$rc\"; exit \"$rc\"; }\n"
    << "done\n"
    << "mark finished\n";
  return s.str();
}

}  // namespace

bool job_alive(const std::string& job) {
  if (job.starts_with("job=")) {
    try {
      const auto r = run_process({"squeue", "-h", "-j", job.substr(4), "-o", "%T"}, "");
      return r.status == 0 && r.output.find_first_not_of(" \n") != std::string::npos;
    } catch (const InputError&) {
      return true;  // no squeue here: it may still run on the cluster
    }
  }
  if (job.starts_with("pid=")) {
    const auto at = job.find('@');
    if (at == std::string::npos || job.substr(at + 1) != results::host_name()) return true;
    const pid_t pid = static_cast<pid_t>(std::stol(job.substr(4, at - 4)));
    return kill(pid, 0) == 0 || errno == EPERM;
  }
  return false;
}

std::vector<std::string> local_command(const std::string& dir, const Manifest& m, const PlanEntry& plan) {
  const std::string base = absolute(dir) + "/" + plan.dir;
  std::vector<std::string> run = {m.parallax, "run", base + "/experiment.toml", "--out", base + "/results.h5"};
  if (plan.ranks == 1) return run;
  std::vector<std::string> out = {"mpiexec", "-n", std::to_string(plan.ranks)};
  out.insert(out.end(), run.begin(), run.end());
  return out;
}

int run_local(const std::string& dir, const Manifest& m, const std::vector<Task>& tasks,
              const exec::StopSignals& stop) {
  const std::string me = "pid=" + std::to_string(getpid()) + "@" + results::host_name();
  int status = 0;
  for (const auto& t : tasks) {
    if (stop.received()) return 128 + stop.received();
    std::printf("%s: %d run(s) on %d rank(s)\n", t.plan.dir.c_str(), t.runs, t.plan.ranks);
    std::fflush(stdout);
    write_status(dir, t.plan, "running " + me);
    const std::string log = (fs::path(dir) / t.plan.dir / "log.txt").string();
    std::string verdict = "finished";
    for (int r = 0; r < t.runs && verdict == "finished"; ++r) {
      const ProcessResult result = run_process(local_command(dir, m, t.plan), log, &stop);
      if (stop.received())
        verdict = "interrupted";
      else if (result.status != 0)
        verdict = "failed rc=" + std::to_string(result.status);
    }
    write_status(dir, t.plan, verdict + " " + me);
    if (verdict == "interrupted") return 128 + stop.received();
    if (verdict != "finished") {
      std::printf("%s: %s (its log: %s)\n", t.plan.dir.c_str(), verdict.c_str(), log.c_str());
      status = 1;
    }
  }
  return status;
}

std::vector<ArrayScript> slurm_scripts(const std::string& dir, const Manifest& m, const std::vector<Task>& tasks) {
  std::map<std::pair<int, int>, std::vector<Task>> by_shape;
  for (const auto& t : tasks) by_shape[{t.plan.nodes, t.plan.tasks_per_node}].push_back(t);
  std::vector<ArrayScript> out;
  for (auto& [shape, group] : by_shape) out.push_back({group, script_text(dir, m, group)});
  return out;
}

std::vector<std::string> submit(const std::string& dir, const std::vector<ArrayScript>& scripts) {
  const fs::path slurm = fs::path(dir) / "slurm";
  std::error_code ec;
  fs::create_directories(slurm, ec);
  if (ec) throw InputError(slurm.string() + ": cannot create it (" + ec.message() + ")");
  std::vector<std::string> jobs;
  for (const auto& script : scripts) {
    int n = 1;
    while (fs::exists(slurm / ("array-" + std::to_string(n) + ".sbatch"), ec)) ++n;
    const std::string path = (slurm / ("array-" + std::to_string(n) + ".sbatch")).string();
    results::write_file_atomically(path, script.text);
    const ProcessResult r = run_process({"sbatch", "--parsable", path}, "");
    const std::string out = r.output.substr(0, r.output.find_last_not_of(" \n") + 1);
    const std::string job = out.substr(0, out.find(';'));  // "ID" or "ID;cluster"
    if (r.status != 0 || job.empty() || job.find_first_not_of("0123456789") != std::string::npos)
      throw InputError("sbatch refused " + path + ": " + out.substr(out.rfind('\n') + 1));
    for (const auto& t : script.tasks)
      write_status(dir, t.plan, "submitted job=" + job + "_" + std::to_string(t.index));
    jobs.push_back(job);
    std::printf("submitted %s as job %s (%zu plan(s))\n", path.c_str(), job.c_str(), script.tasks.size());
  }
  return jobs;
}

}  // namespace parallax::study
