// What runs and sweeps write into a results file (interfaces §3 and §5): a measured run as it
// goes, a predicted run, a sweep's plans.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "models/experiment_json.hpp"
#include "results/memory_file.hpp"
#include "results/results_file.hpp"
#include "sim/placement.hpp"
#include "sim/report_json.hpp"

namespace parallax::results {

namespace {

void write_run_attributes(hid_t run, const Experiment& e, const std::string& kind) {
  const std::string config = to_json(e).dump();
  write_attribute(run, "kind", kind);
  write_attribute(run, "config_json", config);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(config));
  write_attribute(run, "config_hash", std::string(hash));
  write_attribute(run, "world_size", static_cast<long long>(e.system.gpus));
  write_attribute(run, "tp", static_cast<long long>(e.parallel.tp));
  write_attribute(run, "pp", static_cast<long long>(e.parallel.pp));
  write_attribute(run, "dp", static_cast<long long>(e.parallel.dp));
  write_attribute(run, "vpp", static_cast<long long>(e.parallel.vpp));
  write_attribute(run, "cp", static_cast<long long>(e.parallel.cp));  // extensions of the schema
  write_attribute(run, "ep", static_cast<long long>(e.parallel.ep));
  write_attribute(run, "micro_batch", static_cast<long long>(e.training.micro_batch));
  write_attribute(run, "global_batch", static_cast<long long>(e.training.global_batch));
  write_attribute(run, "recompute", to_string(e.training.recompute));
  write_attribute(run, "precision", to_string(e.training.precision));
  write_attribute(run, "system", e.system.name);
  write_attribute(run, "model", e.model.name);
  write_attribute(run, "schedule", to_string(e.parallel.schedule));
}

// The contract's run tables (interfaces §3), shared by predicted and measured runs.
const std::vector<Column>& iteration_columns() {
  static const std::vector<Column> c{{"step", ColumnType::int64},
                                     {"loss", ColumnType::float64},
                                     {"grad_norm", ColumnType::float64},
                                     {"lr", ColumnType::float64},
                                     {"iteration_time_s", ColumnType::float64},
                                     {"tokens_per_s", ColumnType::float64},
                                     {"model_tflops_per_gpu", ColumnType::float64},
                                     {"mfu", ColumnType::float64},
                                     {"peak_memory_bytes", ColumnType::float64}};
  return c;
}
const std::vector<Column>& phase_columns() {
  static const std::vector<Column> c{{"step", ColumnType::int64},          {"rank", ColumnType::int64},
                                     {"forward_s", ColumnType::float64},   {"backward_s", ColumnType::float64},
                                     {"recompute_s", ColumnType::float64}, {"tp_comm_s", ColumnType::float64},
                                     {"pp_comm_s", ColumnType::float64},   {"dp_comm_s", ColumnType::float64},
                                     {"optimizer_s", ColumnType::float64}, {"idle_s", ColumnType::float64}};
  return c;
}
// The contract's timeline columns, and `step` (an extension: predicted runs hold step 0, measured
// runs every step, times relative to the step's start).
const std::vector<Column>& timeline_columns() {
  static const std::vector<Column> c{{"rank", ColumnType::int64},         {"stage", ColumnType::int64},
                                     {"chunk", ColumnType::int64},        {"microbatch", ColumnType::int64},
                                     {"kind", ColumnType::string},        {"start_s", ColumnType::float64},
                                     {"duration_s", ColumnType::float64}, {"step", ColumnType::int64}};
  return c;
}
const std::vector<Column>& rank_columns() {
  static const std::vector<Column> c{{"rank", ColumnType::int64},       {"host", ColumnType::string},
                                     {"local_rank", ColumnType::int64}, {"tp_rank", ColumnType::int64},
                                     {"pp_rank", ColumnType::int64},    {"dp_rank", ColumnType::int64},
                                     {"device", ColumnType::string}};
  return c;
}

// The prediction for the run's own config: the contract's two figures and (an extension) the
// whole `predict --format json` report, breakdown and per-stage memory included.
void write_prediction_attributes(hid_t run, const Experiment& e, const sim::Prediction& p) {
  write_attribute(run, "predicted_iteration_time_s", p.iteration_time_s);
  write_attribute(run, "predicted_peak_memory_bytes", p.peak_memory_bytes);
  write_attribute(run, "prediction_json", sim::prediction_json(e, p).dump());
  if (p.interval) {
    write_attribute(run, "iteration_time_p10_s", p.interval->p10_s);
    write_attribute(run, "iteration_time_p90_s", p.interval->p90_s);
  }
}

// One row per rank: its host, local rank and (tp, pp, dp) coordinates.
void write_ranks(hid_t run, const Experiment& e, const std::vector<RankInfo>& ranks) {
  Table table(run, "ranks", rank_columns());
  std::vector<std::vector<Value>> rows;
  for (size_t r = 0; r < ranks.size(); ++r) {
    const auto c = sim::coords_of(static_cast<int>(r), e.parallel);
    rows.push_back({static_cast<long long>(r), ranks[r].host, static_cast<long long>(ranks[r].local_rank),
                    static_cast<long long>(c.tp_rank), static_cast<long long>(c.pp_rank),
                    static_cast<long long>(c.dp_rank), e.system.device.name});
  }
  table.append(rows);
}

}  // namespace

std::string distinct_hosts(const std::vector<RankInfo>& ranks) {
  std::vector<std::string> seen;
  std::string out;
  for (const auto& r : ranks) {
    if (std::find(seen.begin(), seen.end(), r.host) != seen.end()) continue;
    seen.push_back(r.host);
    out += (out.empty() ? "" : ",") + r.host;
  }
  return out;
}

MeasuredRunWriter::MeasuredRunWriter(const std::string& path, const Experiment& e, const sim::Prediction& predicted,
                                     const std::vector<std::pair<std::string, std::string>>& provenance,
                                     const std::vector<RankInfo>& ranks)
    : path_(path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  check_replaceable(path);
  std::unique_ptr<ResultsReader> existing;  // refuses a file that is not ours before the run starts
  if (std::filesystem::exists(path)) existing = std::make_unique<ResultsReader>(path);
  if (const auto dir = std::filesystem::path(path).parent_path(); !dir.empty() && !std::filesystem::is_directory(dir))
    throw InputError(path + ": directory " + dir.string() + " does not exist");
  own_path_ = unique_file_beside(path, "run");
  try {
    file_ = create_in_memory(own_path_);
    write_header(file_);
    run_ = create_unique_group(file_, "/runs", "measured", id_, existing ? existing->handle() : -1);
    write_run_attributes(run_, e, "measured");
    write_attribute(run_, "status", std::string("running"));
    write_attribute(run_, "started_utc", utc_now());
    write_prediction_attributes(run_, e, predicted);
    for (const auto& [key, value] : provenance) write_attribute(run_, key, value);
    iterations_ = std::make_unique<Table>(run_, "iterations", iteration_columns());
    phases_ = std::make_unique<Table>(run_, "phases", phase_columns());
    timeline_ = std::make_unique<Table>(run_, "timeline", timeline_columns());
    write_ranks(run_, e, ranks);
    save();
  } catch (...) {
    close_own_file();
    std::filesystem::remove(own_path_);
    throw;
  }
}

MeasuredRunWriter::~MeasuredRunWriter() {
  close_own_file();
  if (!own_path_.empty()) ::unlink(own_path_.c_str());
}

void MeasuredRunWriter::close_own_file() {
  iterations_.reset();
  phases_.reset();
  timeline_.reset();
  if (run_ >= 0) H5Gclose(run_);
  run_ = -1;
  if (file_ >= 0) H5Fclose(file_);
  file_ = -1;
}

void MeasuredRunWriter::save() {
  save_image(file_, own_path_);
  saved_ = std::chrono::steady_clock::now();
}

void MeasuredRunWriter::add(const MeasuredStep& s) {
  append_step(s);
  if (std::chrono::steady_clock::now() - saved_ > std::chrono::seconds(30)) save();
}

void MeasuredRunWriter::append_step(const MeasuredStep& s) {
  iterations_->append({{s.step, s.loss, s.grad_norm, s.lr, s.iteration_time_s, s.tokens_per_s, s.model_tflops_per_gpu,
                        s.mfu, s.peak_memory_bytes}});
  std::vector<std::vector<Value>> rows;
  for (size_t r = 0; r < s.ranks.size(); ++r) {
    const RankPhases& p = s.ranks[r];
    const double idle = std::max(
        0.0, p.iteration_s - p.forward_s - p.backward_s - p.tp_comm_s - p.pp_comm_s - p.dp_comm_s - p.optimizer_s);
    rows.push_back({s.step, static_cast<long long>(r), p.forward_s, p.backward_s, 0.0, p.tp_comm_s, p.pp_comm_s,
                    p.dp_comm_s, p.optimizer_s, idle});
  }
  phases_->append(rows);
  std::vector<std::vector<Value>> events;
  for (const auto& ev : s.timeline)
    events.push_back({static_cast<long long>(ev.rank), static_cast<long long>(ev.stage),
                      static_cast<long long>(ev.chunk), static_cast<long long>(ev.microbatch), ev.kind, ev.start,
                      ev.duration, s.step});
  timeline_->append(events);
}

void MeasuredRunWriter::add_memory(const std::vector<RankMemory>& measured,
                                   const std::vector<sim::StageMemory>& predicted) {
  Table memory(run_, "memory",
               {{"rank", ColumnType::int64},
                {"weights_bytes", ColumnType::float64},
                {"grads_bytes", ColumnType::float64},
                {"optimizer_bytes", ColumnType::float64},
                {"activations_peak_bytes", ColumnType::float64},
                {"other_bytes", ColumnType::float64},
                {"predicted_weights_bytes", ColumnType::float64},
                {"predicted_grads_bytes", ColumnType::float64},
                {"predicted_optimizer_bytes", ColumnType::float64},
                {"predicted_activations_bytes", ColumnType::float64},
                {"predicted_other_bytes", ColumnType::float64}});
  std::vector<std::vector<Value>> rows;
  for (size_t r = 0; r < measured.size(); ++r) {
    const RankMemory& m = measured[r];
    const sim::StageMemory& p = predicted.at(r);
    rows.push_back({static_cast<long long>(r), m.weights, m.gradients, m.optimizer, m.activations_peak, m.other,
                    p.weights, p.gradients, p.optimizer, p.activations, p.other});
  }
  memory.append(rows);
}

std::string MeasuredRunWriter::finish(const std::string& status) {
  write_attribute(run_, "status", status);
  write_attribute(run_, "finished_utc", utc_now());
  iterations_.reset();
  phases_.reset();
  timeline_.reset();
  H5Gclose(run_);
  run_ = -1;
  // The run joins the results file, both in memory, which is then saved in one staged write.
  ResultsFile out(path_);
  std::string id = id_;
  const hid_t h = out.handle();
  if (H5Lexists(h, "/runs", H5P_DEFAULT) > 0 && H5Lexists(h, ("/runs/" + id).c_str(), H5P_DEFAULT) > 0) {
    H5Gclose(create_unique_group(h, "/runs", "measured", id));  // another writer took id_: a fresh one
    H5Ldelete(h, ("/runs/" + id).c_str(), H5P_DEFAULT);
  }
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  const herr_t copied = H5Ocopy(file_, ("/runs/" + id_).c_str(), h, ("/runs/" + id).c_str(), H5P_DEFAULT, lcpl);
  H5Pclose(lcpl);
  if (copied < 0) throw InputError(path_ + ": cannot add the run to the file; it is as it was");
  out.commit();
  close_own_file();
  ::unlink(own_path_.c_str());
  own_path_.clear();
  id_ = id;
  return id;
}

std::string add_predicted_run(const std::string& path, const Experiment& e, const sim::Prediction& p) {
  ResultsFile file(path);
  std::string id;
  hid_t run = file.create_group("/runs", "predicted", id);
  const std::string now = utc_now();
  write_run_attributes(run, e, "predicted");
  write_attribute(run, "started_utc", now);
  write_attribute(run, "finished_utc", now);
  write_prediction_attributes(run, e, p);
  {
    Table it(run, "iterations", iteration_columns());
    const double nan = std::nan("");
    it.append(
        {{0LL, nan, nan, nan, p.iteration_time_s, p.tokens_per_s, p.model_tflops_per_gpu, p.mfu, p.peak_memory_bytes}});
  }
  auto stage_rank = [&](int stage) { return static_cast<long long>(sim::rank_of({0, 0, stage}, e.parallel)); };
  {
    Table ph(run, "phases", phase_columns());
    std::vector<std::vector<Value>> rows;
    for (size_t s = 0; s < p.stages.size(); ++s) {
      const auto& t = p.stages[s];
      rows.push_back({0LL, stage_rank(static_cast<int>(s)), t.forward, t.backward, t.recompute, t.tp_comm, t.pp_comm,
                      t.dp_comm, t.optimizer, p.iteration_time_s - (t.finish - t.idle())});
    }
    ph.append(rows);
  }
  {
    Table tl(run, "timeline", timeline_columns());
    std::vector<std::vector<Value>> rows;
    for (const auto& ev : p.timeline)
      rows.push_back({stage_rank(ev.rank), static_cast<long long>(ev.stage), static_cast<long long>(ev.chunk),
                      static_cast<long long>(ev.microbatch), ev.kind, ev.start, ev.duration, 0LL});
    tl.append(rows);
  }
  {
    // A predicted run's ranks sit on the system's nodes as the contract places them.
    std::vector<RankInfo> ranks;
    const int gpn = e.system.gpus_per_node;
    for (int r = 0; r < e.system.gpus; ++r) ranks.push_back({"node" + std::to_string(r / gpn), r % gpn});
    write_ranks(run, e, ranks);
  }
  {
    Table mem(run, "memory",
              {{"stage", ColumnType::int64},
               {"weights_bytes", ColumnType::float64},
               {"gradients_bytes", ColumnType::float64},
               {"optimizer_bytes", ColumnType::float64},
               {"activations_bytes", ColumnType::float64},
               {"other_bytes", ColumnType::float64},
               {"total_bytes", ColumnType::float64},
               {"device_bytes", ColumnType::float64}});
    std::vector<std::vector<Value>> rows;
    for (const auto& s : p.memory)
      rows.push_back({static_cast<long long>(s.stage), s.weights, s.gradients, s.optimizer, s.activations, s.other,
                      s.total(), p.device_memory_bytes});
    mem.append(rows);
  }
  H5Gclose(run);
  file.commit();
  return id;
}

std::string add_sweep(const std::string& path, const Experiment& base, const sim::SweepResult& sweep,
                      bool weak_scaling) {
  ResultsFile file(path);
  std::string id;
  hid_t group = file.create_group("/sweeps", "sweep", id);
  write_attribute(group, "config_json", to_json(base).dump());
  write_attribute(group, "model", base.model.name);
  write_attribute(group, "system", base.system.name);
  write_attribute(group, "created_utc", utc_now());
  write_attribute(group, "evaluated", sweep.evaluated);
  write_attribute(group, "feasible", sweep.feasible);
  for (const auto& [reason, n] : sweep.rejected) write_attribute(group, "rejected_" + reason, n);
  write_attribute(group, "seconds", sweep.seconds);
  write_attribute(group, "scaling", std::string(weak_scaling ? "weak" : "strong"));
  {
    Table configs(group, "configs",
                  {{"gpus", ColumnType::int64},
                   {"tp", ColumnType::int64},
                   {"pp", ColumnType::int64},
                   {"dp", ColumnType::int64},
                   {"vpp", ColumnType::int64},
                   {"schedule", ColumnType::string},
                   {"micro_batch", ColumnType::int64},
                   {"global_batch", ColumnType::int64},
                   {"recompute", ColumnType::string},
                   {"sequence_parallel", ColumnType::int64},
                   {"distributed_optimizer", ColumnType::int64},
                   {"fits", ColumnType::int64},
                   {"reject_reason", ColumnType::string},
                   {"iteration_time_s", ColumnType::float64},
                   {"tokens_per_s", ColumnType::float64},
                   {"mfu", ColumnType::float64},
                   {"peak_memory_bytes", ColumnType::float64},
                   {"zero_stage", ColumnType::int64}});
    std::vector<std::vector<Value>> rows;
    auto flush = [&] {
      configs.append(rows);
      rows.clear();
    };
    const double nan = std::nan("");
    for (const auto& plan : sweep.plans) {
      rows.push_back({static_cast<long long>(plan.gpus), static_cast<long long>(plan.tp),
                      static_cast<long long>(plan.pp), static_cast<long long>(plan.dp),
                      static_cast<long long>(plan.vpp), to_string(plan.schedule),
                      static_cast<long long>(plan.micro_batch), static_cast<long long>(plan.global_batch),
                      to_string(plan.recompute), static_cast<long long>(plan.sequence_parallel),
                      static_cast<long long>(plan.distributed_optimizer), static_cast<long long>(plan.fits()),
                      std::string(sim::to_string(plan.reject)), plan.fits() ? plan.iteration_time_s : nan,
                      plan.fits() ? plan.tokens_per_s : nan, plan.fits() ? plan.mfu : nan, plan.peak_memory_bytes,
                      static_cast<long long>(plan.zero_stage)});
      if (rows.size() == 65536) flush();
    }
    flush();
  }
  H5Gclose(group);
  file.commit();
  return id;
}

}  // namespace parallax::results
