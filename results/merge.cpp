#include "results/merge.hpp"

#include <hdf5.h>

#include <filesystem>

#include "results/read_table.hpp"
#include "results/results_file.hpp"

namespace parallax::results {

namespace {

constexpr const char* kParents[] = {"runs", "sweeps", "benchmarks"};

// What tells two groups of the same id apart: when they were started or created.
std::string identity(hid_t group) {
  if (auto s = string_attribute(group, "started_utc")) return *s;
  return string_attribute(group, "created_utc").value_or("");
}

std::string identity_at(hid_t file, const std::string& path) {
  const hid_t g = H5Gopen2(file, path.c_str(), H5P_DEFAULT);
  if (g < 0) return "";
  std::string id = identity(g);
  H5Gclose(g);
  return id;
}

bool exists(hid_t file, const std::string& path) {
  const auto slash = path.find('/');
  return H5Lexists(file, path.substr(0, slash).c_str(), H5P_DEFAULT) > 0 &&
         H5Lexists(file, path.c_str(), H5P_DEFAULT) > 0;
}

void ensure_group(hid_t file, const std::string& name) {
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0) return;
  const hid_t g = H5Gcreate2(file, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) throw InputError("cannot create /" + name + " in the merged file");
  H5Gclose(g);
}

// Copies the groups of one input into `out`. Throws InputError when a group cannot be copied.
void merge_one(hid_t in, const std::string& in_path, hid_t out, MergeReport& report) {
  for (const char* parent : kParents) {
    for (const std::string& id : group_names(in, parent)) {
      const std::string from = std::string(parent) + "/" + id;
      std::string to = from;
      if (exists(out, to)) {
        if (identity_at(out, to) == identity_at(in, from)) {
          ++report.present;
          continue;
        }
        for (int n = 2; exists(out, to); ++n) to = from + "-" + std::to_string(n);
        ++report.renamed;
      }
      ensure_group(out, parent);
      if (H5Ocopy(in, from.c_str(), out, to.c_str(), H5P_DEFAULT, H5P_DEFAULT) < 0)
        throw InputError(in_path + ": cannot copy /" + from);
      ++report.added;
    }
  }
}

}  // namespace

MergeReport merge_results(const std::vector<std::string>& inputs, const std::string& out, bool skip_unreadable) {
  std::error_code ec;
  for (const auto& path : inputs)
    if (std::filesystem::equivalent(path, out, ec))
      throw InputError(path + " is also the output; merge into another file");
  ResultsFile file(out);
  MergeReport report;
  for (const auto& path : inputs) {
    try {
      ResultsReader reader(path);
      merge_one(reader.handle(), path, file.handle(), report);
    } catch (const InputError& e) {
      if (!skip_unreadable) throw;
      report.unreadable.push_back(e.what());
    }
  }
  file.commit();
  return report;
}

}  // namespace parallax::results
