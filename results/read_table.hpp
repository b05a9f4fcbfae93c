// Reading back what the results file holds: a compound table's columns by their HDF5 types, and
// attributes, for `parallax calibrate --from` and `parallax compare`.
#pragma once
#include <hdf5.h>

#include <optional>
#include <string>
#include <vector>

#include "results/results_file.hpp"

namespace parallax::results {

struct TableData {
  std::vector<Column> columns;
  std::vector<std::vector<Value>> rows;

  // A column's values as numbers (int64 or float64 columns), or as text; InputError when absent.
  std::vector<double> numbers(const std::string& column) const;
  std::vector<std::string> strings(const std::string& column) const;
  bool has(const std::string& column) const;
};

// The table `name` under `group`; InputError when there is none.
TableData read_table(hid_t group, const std::string& name);
// An attribute's value: a string, or a number; nullopt when absent or of another type.
std::optional<std::string> string_attribute(hid_t object, const std::string& name);
std::optional<double> number_attribute(hid_t object, const std::string& name);
// The names of every attribute of an object, in name order.
std::vector<std::string> attribute_names(hid_t object);
// The names of the groups under `path` in name order (empty when `path` does not exist).
std::vector<std::string> group_names(hid_t file, const std::string& path);

// A cell as printed: integers as they are, numbers with two decimals.
std::string format_cell(const Value& v);

}  // namespace parallax::results
