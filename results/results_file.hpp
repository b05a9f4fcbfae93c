// The contract's HDF5 results file (interfaces §3): a study of runs and sweeps. Adding to a
// file never rewrites what it holds, and never leaves a half-written file: the new content is
// written into a copy that then replaces the original in one rename.
#pragma once
#include <hdf5.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "models/experiment.hpp"
#include "results/rank_memory.hpp"
#include "sim/predict.hpp"
#include "sim/sweep.hpp"

namespace parallax::results {

using Value = std::variant<long long, double, std::string>;
enum class ColumnType { int64, float64, string };
struct Column {
  std::string name;
  ColumnType type;
};

// A 1-D, chunked, extendible compound dataset.
class Table {
 public:
  Table(hid_t parent, const std::string& name, std::vector<Column> columns);
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;
  void append(const std::vector<std::vector<Value>>& rows);

 private:
  hid_t dataset_ = -1;
  hid_t type_ = -1;
  std::vector<Column> columns_;
  std::vector<size_t> offsets_;
  size_t row_size_ = 0;
  hsize_t rows_ = 0;
};

void write_attribute(hid_t object, const std::string& name, const Value& value);

// An open results file (a staging copy until commit()).
class ResultsFile {
 public:
  // Opens or creates; InputError if the file is not ours. Staged (the default): changes go to
  // a copy that commit() renames over the original. In place: rows land in the file as they
  // are flushed, so a run that dies keeps every row written before.
  explicit ResultsFile(const std::string& path, bool staged = true);
  ~ResultsFile();  // without commit(): the original is untouched
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  hid_t handle() const { return file_; }
  // Creates /runs/<id> (or /sweeps/<id>) with a fresh id starting with `prefix`.
  hid_t create_group(const std::string& parent, const std::string& prefix, std::string& id);
  void commit();

 private:
  std::string path_, staging_;
  hid_t file_ = -1;
  bool staged_ = true;
};

// A measured run written as it goes (in place): attributes first, then one iterations row
// and one phases row per rank per step, flushed each time.
struct RankPhases {
  double forward_s = 0, backward_s = 0, tp_comm_s = 0, pp_comm_s = 0, dp_comm_s = 0, optimizer_s = 0, iteration_s = 0;
};
struct MeasuredStep {
  long long step = 0;
  double loss = 0, grad_norm = 0, lr = 0, iteration_time_s = 0, tokens_per_s = 0, model_tflops_per_gpu = 0, mfu = 0,
         peak_memory_bytes = 0;
  std::vector<RankPhases> ranks;             // by rank
  std::vector<sim::TimelineEvent> timeline;  // every rank's actions, start relative to the step
};
struct RankInfo {
  std::string host;
  int local_rank = 0;
};
// The run's hosts in the order their first rank appears, comma-separated (the `hostnames` attribute).
std::string distinct_hosts(const std::vector<RankInfo>& ranks);

class MeasuredRunWriter {
 public:
  MeasuredRunWriter(const std::string& path, const Experiment& e, const sim::Prediction& predicted,
                    const std::vector<std::pair<std::string, std::string>>& provenance,
                    const std::vector<RankInfo>& ranks);
  ~MeasuredRunWriter();
  void add(const MeasuredStep& s);
  // /runs/<id>/memory: a row per rank, measured beside predicted[rank] (its stage's prediction).
  void add_memory(const std::vector<RankMemory>& measured, const std::vector<sim::StageMemory>& predicted);
  void finish();
  const std::string& id() const { return id_; }

 private:
  ResultsFile file_;
  std::string id_;
  hid_t run_ = -1;
  std::unique_ptr<Table> iterations_, phases_, timeline_;
};

std::string utc_now();  // ISO 8601, seconds, "Z"

// Adds a predicted run: attributes, iterations (one row), phases and timeline per pipeline
// stage, ranks, and memory per stage. Returns the run id.
std::string add_predicted_run(const std::string& path, const Experiment& e, const sim::Prediction& p);

// Adds /sweeps/<id>/configs (one row per plan that reached the memory check) with the
// base experiment and the counts as attributes. Returns the sweep id.
std::string add_sweep(const std::string& path, const Experiment& base, const sim::SweepResult& sweep,
                      bool weak_scaling);

}  // namespace parallax::results
