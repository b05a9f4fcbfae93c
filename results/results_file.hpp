// The contract's HDF5 results file (interfaces §3): a study of runs and sweeps. Adding to a
// file never rewrites what it holds, and never leaves a half-written file: the new content is
// written into a copy that then replaces the original in one rename.
#pragma once
#include <hdf5.h>

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "models/experiment.hpp"
#include "results/rank_memory.hpp"
#include "results/staged_file.hpp"
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

// A results file being added to: read into memory under its directory's lock, changed there,
// and saved as one image (results/memory_file.hpp) by commit(); without commit() the file on disk
// is untouched.
class ResultsFile {
 public:
  // Opens or creates; InputError if the file is not ours, or is not a regular file.
  explicit ResultsFile(const std::string& path);
  ~ResultsFile();  // without commit(): the original is untouched, the staging copy removed
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  hid_t handle() const { return file_; }
  // Creates /runs/<id> (or /sweeps/<id>) with a fresh id starting with `prefix`.
  hid_t create_group(const std::string& parent, const std::string& prefix, std::string& id);
  // InputError (the original kept) when the copy cannot be written, synced or read back.
  void commit();

 private:
  std::string path_;
  std::unique_ptr<DirectoryLock> lock_;
  hid_t file_ = -1;
};

// A results file opened to read; InputError if it is missing, not a regular file or not ours.
class ResultsReader {
 public:
  explicit ResultsReader(const std::string& path);
  ~ResultsReader();
  ResultsReader(const ResultsReader&) = delete;
  ResultsReader& operator=(const ResultsReader&) = delete;
  hid_t handle() const { return file_; }

 private:
  hid_t file_ = -1;
};

// The attributes a results file starts with: schema, version, tool.
void write_header(hid_t file);

// A group /<parent>/<prefix>-<UTC time>-NNN not yet in `file` (nor in `also`, when given).
hid_t create_unique_group(hid_t file, const std::string& parent, const std::string& prefix, std::string& id,
                          hid_t also = -1);

// What a measured run writes: attributes first, then one iterations row and one phases row per
// rank per step.
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

// A measured run written as it goes into a file of its own, built in memory and saved beside the
// results file (".<name>.run-XXXXXX") when it starts and every 30 s, so that a run killed outright
// leaves its rows but those of its last seconds on disk; added to the results file in one staged
// commit when it ends, with its status, and its own file removed.
class MeasuredRunWriter {
 public:
  // InputError when `path` is not a results file of ours, or nothing can be written beside it.
  MeasuredRunWriter(const std::string& path, const Experiment& e, const sim::Prediction& predicted,
                    const std::vector<std::pair<std::string, std::string>>& provenance,
                    const std::vector<RankInfo>& ranks);
  ~MeasuredRunWriter();  // unfinished: its own file is removed
  MeasuredRunWriter(const MeasuredRunWriter&) = delete;
  MeasuredRunWriter& operator=(const MeasuredRunWriter&) = delete;
  // InputError when the run's own file cannot be saved (a full disk).
  void add(const MeasuredStep& s);
  // /runs/<id>/memory: a row per rank, measured beside predicted[rank] (its stage's prediction).
  void add_memory(const std::vector<RankMemory>& measured, const std::vector<sim::StageMemory>& predicted);
  // Adds the run, with status "finished", "interrupted" or "failed", to the results file and
  // returns its id there (id(), unless another writer took that id meanwhile). InputError (the
  // results file as it was) when it cannot be added.
  std::string finish(const std::string& status = "finished");
  const std::string& id() const { return id_; }

 private:
  void append_step(const MeasuredStep& s);
  void save();  // the run's own file, to disk
  void close_own_file();
  std::string path_, own_path_, id_;
  std::chrono::steady_clock::time_point saved_;
  hid_t file_ = -1, run_ = -1;
  std::unique_ptr<Table> iterations_, phases_, timeline_;
};

std::string utc_now();    // ISO 8601, seconds, "Z"
std::string host_name();  // this machine's, as runs and system files record it

// Adds a predicted run: attributes, iterations (one row), phases and timeline per pipeline
// stage, ranks, and memory per stage. Returns the run id.
std::string add_predicted_run(const std::string& path, const Experiment& e, const sim::Prediction& p);

// Adds /sweeps/<id>/configs (one row per plan that reached the memory check) with the
// base experiment and the counts as attributes. Returns the sweep id.
std::string add_sweep(const std::string& path, const Experiment& base, const sim::SweepResult& sweep,
                      bool weak_scaling);

}  // namespace parallax::results
