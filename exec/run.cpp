#include "exec/run.hpp"

#include <H5public.h>
#include <mpi.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "exec/backend_groups.hpp"
#include "exec/run_checks.hpp"
#include "exec/stop_signals.hpp"
#include "exec/trainer.hpp"
#include "exec/transfer_groups.hpp"
#include "models/experiment_json.hpp"
#include "models/toml_reader.hpp"
#include "results/results_file.hpp"
#include "sim/cpu_threads.hpp"
#include "sim/flops.hpp"
#include "sim/placement.hpp"
#include "sim/predict.hpp"

namespace parallax::exec {

namespace {

// Why a run ends before its last step.
struct Stop {
  enum Why { none, by_signal, non_finite, unrecorded } why = none;
  int signal = 0, step = 0;
  std::string message;  // unrecorded: what could not be written
};

double peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

// Rank 0's verdict on the set-up (0 = go on), shared so that no rank waits for one that left.
bool agree(const MpiCommunicator& world, int& status) {
  MPI_Bcast(&status, 1, MPI_INT, 0, world.handle());
  return status == 0;
}

// With where the ranks run (rank 0's node): whether they oversubscribe its cores; under Slurm,
// the job (and array task) that ran them, for a study to find its runs by.
std::vector<std::pair<std::string, std::string>> provenance(const std::string& hosts, const kernels::Kernels& k,
                                                            int ranks_per_node) {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  std::vector<std::pair<std::string, std::string>> slurm;
  for (const char* name : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST"})
    if (const char* value = std::getenv(name)) {
      std::string key = name;
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
      slurm.emplace_back(key, value);
    }
  std::vector<std::pair<std::string, std::string>> out = {
      {"hostnames", hosts},
      {"backend", k.name()},
      {"git_sha", PARALLAX_GIT_SHA},
      {"tool_version", PARALLAX_VERSION},
      {"hdf5_version", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release)},
      {"blas", k.libraries()},
      {"ranks_per_node", std::to_string(ranks_per_node)},
      {"threads_per_rank", std::to_string(k.threads())},
      {"predicted_threads_per_rank", std::to_string(k.threads())},
      {"cores_per_node", std::to_string(std::max(1u, std::thread::hardware_concurrency()))},
      {"compiler", __VERSION__}};
  out.insert(out.end(), slurm.begin(), slurm.end());
  return out;
}

// Every rank's events of the step, on rank 0 (5 doubles an event: kind, chunk, micro-batch,
// start, duration). Passes carry their virtual stage, as the simulator's timeline does.
std::vector<sim::TimelineEvent> gather_timeline(const MpiCommunicator& world, const ParallelConfig& p,
                                                const std::vector<StepResult::Event>& events) {
  std::vector<double> mine;
  for (const auto& ev : events)
    mine.insert(mine.end(), {double(ev.kind), double(ev.chunk), double(ev.microbatch), ev.start, ev.duration});
  int count = static_cast<int>(mine.size());
  const bool leader = world.rank() == 0;
  std::vector<int> counts(leader ? world.size() : 0), offsets(leader ? world.size() : 0);
  MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, world.handle());
  int total = 0;
  for (size_t i = 0; i < counts.size(); ++i) offsets[i] = total, total += counts[i];
  std::vector<double> all(leader ? total : 0);
  MPI_Gatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE, 0, world.handle());
  std::vector<sim::TimelineEvent> out;
  for (size_t rank = 0; rank < counts.size(); ++rank) {
    const int pp_rank = sim::coords_of(static_cast<int>(rank), p).pp_rank;
    for (int k = offsets[rank]; k < offsets[rank] + counts[rank]; k += 5) {
      const auto kind = static_cast<StepResult::Kind>(all[k]);
      const int chunk = static_cast<int>(all[k + 1]);
      const bool pass = kind == StepResult::forward || kind == StepResult::backward || kind == StepResult::recv;
      out.push_back({static_cast<int>(rank), pass ? chunk * p.pp + pp_rank : pp_rank, chunk,
                     static_cast<int>(all[k + 2]), to_string(kind), all[k + 3], all[k + 4]});
    }
  }
  return out;
}

// Each rank's `n` doubles, rank after rank, on rank 0 (empty elsewhere).
std::vector<double> gather_on_leader(const MpiCommunicator& world, const double* mine, int n) {
  std::vector<double> all(world.rank() == 0 ? n * world.size() : 0);
  MPI_Gather(mine, n, MPI_DOUBLE, all.data(), n, MPI_DOUBLE, 0, world.handle());
  return all;
}

// Every rank's memory by part to rank 0, which writes it beside its stage's prediction.
void write_memory(const MpiCommunicator& world, const ParallelConfig& p, const results::RankMemory& held,
                  const sim::Prediction& predicted, results::MeasuredRunWriter* writer) {
  constexpr int n = 5;
  const double mine[n] = {held.weights, held.gradients, held.optimizer, held.activations_peak, held.other};
  const std::vector<double> all = gather_on_leader(world, mine, n);
  if (!writer) return;
  std::vector<results::RankMemory> measured;
  std::vector<sim::StageMemory> stages;
  for (int r = 0; r < world.size(); ++r) {
    const double* x = &all[n * r];
    measured.push_back({x[0], x[1], x[2], x[3], x[4]});
    stages.push_back(predicted.memory.at(sim::coords_of(r, p).pp_rank));
  }
  writer->add_memory(measured, stages);
}

// Every rank's host and node-local rank, on rank 0 (empty elsewhere).
std::vector<results::RankInfo> gather_ranks(const MpiCommunicator& world, const MpiCommunicator& local) {
  const bool leader = world.rank() == 0;
  char host[256] = {};
  std::snprintf(host, sizeof host, "%s", results::host_name().c_str());
  std::vector<char> hosts(leader ? 256 * world.size() : 0);
  MPI_Gather(host, 256, MPI_CHAR, hosts.data(), 256, MPI_CHAR, 0, world.handle());
  int local_rank = local.rank();
  std::vector<int> local_ranks(leader ? world.size() : 0);
  MPI_Gather(&local_rank, 1, MPI_INT, local_ranks.data(), 1, MPI_INT, 0, world.handle());
  std::vector<results::RankInfo> ranks;
  for (int r = 0; r < static_cast<int>(local_ranks.size()); ++r)
    ranks.push_back({std::string(&hosts[256 * r]), local_ranks[r]});
  return ranks;
}

// Rank 0's results writer (a checkpoint directory that cannot be made is refused before anything
// is written). InputError for either.
std::unique_ptr<results::MeasuredRunWriter> open_results(const RunRequest& args, const Experiment& e,
                                                         const sim::Prediction& predicted,
                                                         const std::vector<results::RankInfo>& ranks,
                                                         const kernels::Kernels& k, int ranks_per_node) {
  if (e.training.checkpoint_every > 0) {
    std::error_code ec;
    std::filesystem::create_directories(e.training.checkpoint_dir, ec);
    if (ec)
      throw InputError("training.checkpoint_dir = \"" + e.training.checkpoint_dir + "\": cannot create it (" +
                       ec.message() + ")");
  }
  return std::make_unique<results::MeasuredRunWriter>(
      args.out, e, predicted, provenance(results::distinct_hosts(ranks), k, ranks_per_node), ranks);
}

// One step's phases and timeline from every rank to rank 0, which writes them and logs the
// step as Megatron does.
void record_step(const MpiCommunicator& world, const Experiment& e, const StepResult& r,
                 results::MeasuredRunWriter* writer) {
  constexpr int n = 7;
  const double mine[n] = {r.forward_s, r.backward_s,  r.tp_comm_s,  r.pp_comm_s,
                          r.dp_comm_s, r.optimizer_s, r.iteration_s};
  const std::vector<double> all = gather_on_leader(world, mine, n);
  std::vector<sim::TimelineEvent> timeline = gather_timeline(world, e.parallel, r.events);
  if (!writer) return;
  results::MeasuredStep s;
  s.step = r.step;
  s.loss = r.loss;
  s.grad_norm = r.grad_norm;
  s.lr = r.lr;
  s.iteration_time_s = r.iteration_s;
  const sim::Throughput rates = sim::throughput(e, r.iteration_s);
  s.tokens_per_s = rates.tokens_per_s;
  s.model_tflops_per_gpu = rates.model_tflops_per_gpu;
  s.mfu = rates.mfu;
  s.peak_memory_bytes = peak_rss_bytes();
  for (int k = 0; k < world.size(); ++k) {
    const double* x = &all[n * k];
    s.ranks.push_back({x[0], x[1], x[2], x[3], x[4], x[5], x[6]});
  }
  s.timeline = std::move(timeline);
  writer->add(s);
  if (r.step % e.training.log_every == 0 || r.step == e.training.steps) {
    std::printf(
        " iteration %8d/%8d | consumed samples: %12ld | elapsed time per iteration (ms): %.1f | "
        "throughput per GPU (TFLOP/s/GPU): %.3f | learning rate: %.6E | lm loss: %.6E |",
        r.step, e.training.steps, r.consumed_samples, r.iteration_s * 1e3, s.model_tflops_per_gpu, r.lr, r.loss);
    if (e.training.precision != Precision::fp32) std::printf(" loss scale: %.1f |", r.loss_scale);
    std::printf(" grad norm: %.3f |", r.grad_norm);
    if (e.training.precision != Precision::fp32)
      std::printf(" number of skipped iterations: %3d |", r.skipped_iterations);
    std::printf("\n");
  }
  std::fflush(stdout);
}

// Whether a step's numbers can be trained on: a finite loss, and a finite gradient norm but for
// fp16's skipped steps (their norm is NaN by design).
bool finite_step(const StepResult& r, Precision precision) {
  return std::isfinite(r.loss) && (std::isfinite(r.grad_norm) || precision == Precision::fp16);
}

// Why the run stops after a step, the same on every rank: rank 0 has seen the loss and the
// writes, any rank may have received the signal.
Stop agree_on_stop(const MpiCommunicator& world, int signal, bool non_finite, const std::string& unrecorded) {
  Stop s;
  MPI_Allreduce(&signal, &s.signal, 1, MPI_INT, MPI_MAX, world.handle());
  int why = !unrecorded.empty() ? Stop::unrecorded
            : non_finite        ? Stop::non_finite
            : s.signal          ? Stop::by_signal
                                : Stop::none;
  MPI_Bcast(&why, 1, MPI_INT, 0, world.handle());
  s.why = static_cast<Stop::Why>(why);
  s.message = unrecorded;
  return s;
}

// Rank 0 adds the run to the results file, marked as it ended, and says how; the status every
// rank exits with: 0, 1 for a non-finite loss, 128 + the signal, 2 when the run cannot be recorded.
int end_run(const Stop& stop, std::unique_ptr<results::MeasuredRunWriter> writer) {
  const int status = stop.why == Stop::none         ? 0
                     : stop.why == Stop::non_finite ? 1
                     : stop.why == Stop::by_signal  ? 128 + stop.signal
                                                    : 2;
  if (!writer) return status;
  if (stop.why == Stop::unrecorded) {
    std::cerr << "parallax: " << stop.message << "; run " << writer->id() << " is not recorded\n";
    return status;  // the writer's own file goes with it
  }
  const char* end = stop.why == Stop::none ? "finished" : stop.why == Stop::by_signal ? "interrupted" : "failed";
  std::string id;
  try {
    id = writer->finish(end);
  } catch (const InputError& err) {
    std::cerr << "parallax: " << err.what() << "; run " << writer->id() << " is not recorded\n";
    return 2;
  }
  if (stop.why == Stop::by_signal)
    std::cerr << "parallax: "
              << (stop.signal == SIGINT    ? "SIGINT"
                  : stop.signal == SIGTERM ? "SIGTERM"
                                           : "a signal")
              << ": stopped after step " << stop.step << "; run " << id << " recorded as interrupted\n";
  if (stop.why == Stop::non_finite)
    std::cerr << "parallax: step " << stop.step << ": the loss or the gradient norm is not finite; stopped, run " << id
              << " recorded as failed\n";
  return status;
}

}  // namespace

// Ends every rank of the job after a fault on this one, saying which and what (status 2 for bad
// input, 1 otherwise).
void abort_job(const MpiCommunicator& world, const std::exception& err) {
  std::cerr << "parallax: rank " << world.rank() << ": " << err.what() << "; aborting the job\n";
  std::cerr.flush();
  MPI_Abort(MPI_COMM_WORLD, dynamic_cast<const InputError*>(&err) ? 2 : 1);
  std::abort();  // MPI_Abort does not return
}

int run_training(const RunRequest& args, MpiCommunicator& world) {
  const bool leader = world.rank() == 0;
  const Experiment e = load_experiment_file(args.experiment, args.sets);
  const auto& p = e.parallel;
  check_runnable(e, world.size());

  const sim::ResolvedPlan plan = sim::resolve(e);
  if (e.training.backend == "cuda" && p.pp > 1)
    if (const auto stuck = nccl_deadlock(plan.schedule))
      throw InputError("parallel.schedule = \"" + to_string(p.schedule) +
                       "\": on the cuda backend its transfers would deadlock under NCCL's matching (" + *stuck +
                       "); run 1f1b or gpipe");
  MpiProcessGroups groups(world, plan);
  if (e.training.backend == "cuda") kernels::select_cuda_device(groups.node().rank());  // one GPU a rank
  const std::unique_ptr<kernels::Kernels> kernels = kernels::make_kernels(e.training.backend, e.training.precision);
  kernels->share_cores(groups.node().size());
  BackendGroups backend_groups(groups, *kernels);

  // InputError for bad data, init or checkpoint files (alike on every rank).
  Trainer trainer(plan, backend_groups.groups(), *kernels);
  const std::string config_json = to_json(e).dump();
  // Predicted for the run as it is placed: a CPU rank on several BLAS threads is as many cores.
  Experiment as_placed = e;
  as_placed.system = sim::with_threads(e.system, kernels->threads());
  const sim::Prediction predicted = sim::with_interval(sim::predict(as_placed), as_placed, sim::interval_table());

  // Rank 0 alone writes the results file.
  const std::vector<results::RankInfo> ranks = gather_ranks(world, groups.node());
  std::unique_ptr<results::MeasuredRunWriter> writer;
  int status = 0;
  if (leader) {
    try {
      writer = open_results(args, e, predicted, ranks, *kernels, groups.node().size());
    } catch (const InputError& err) {
      std::cerr << "parallax: " << err.what() << "\n";
      status = 2;
    }
  }
  if (!agree(world, status)) return status;
  if (leader)
    std::cerr << "parallax: run " << writer->id() << " on " << world.size() << " rank(s) -> " << args.out
              << " (predicted " << predicted.iteration_time_s * 1e3 << " ms per iteration on " << e.system.name
              << ")\n";

  // From here a fault may strike one rank only (a checkpoint rank 0 cannot write): the others
  // would wait for it forever, so it ends the job.
  const StopSignals signals;
  Stop stop;
  try {
    while (trainer.steps_done() < e.training.steps && stop.why == Stop::none) {
      const StepResult r = trainer.step();
      std::string unrecorded;  // rank 0's: the step could not be written (a full disk)
      try {
        record_step(world, e, r, writer.get());
        if (r.step == 1)
          write_memory(world, p, trainer.memory(), predicted, writer.get());  // the peak is reached in a step
      } catch (const InputError& err) {
        unrecorded = err.what();
      }
      stop = agree_on_stop(world, signals.received(), !finite_step(r, e.training.precision), unrecorded);
      stop.step = r.step;
      const bool due = e.training.checkpoint_every > 0 && r.step % e.training.checkpoint_every == 0;
      const bool last_word = stop.why == Stop::by_signal && e.training.checkpoint_every > 0;
      if ((due || last_word) && stop.why != Stop::unrecorded && stop.why != Stop::non_finite) {
        char name[32];
        std::snprintf(name, sizeof name, "step_%06d.h5", r.step);
        // Collective (the sharded optimizer state is gathered); rank 0 writes.
        trainer.save_checkpoint((std::filesystem::path(e.training.checkpoint_dir) / name).string(), config_json);
      }
    }
  } catch (const std::exception& err) {
    if (world.size() == 1) throw;
    abort_job(world, err);
  }
  return end_run(stop, leader ? std::move(writer) : nullptr);
}

}  // namespace parallax::exec
