#include "bench/report.hpp"

#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "results/read_table.hpp"

namespace parallax::bench {

namespace {

Report read_benchmark(hid_t group) {
  Report r;
  r.kind = results::string_attribute(group, "kind").value_or("");
  for (const auto& name : results::attribute_names(group))
    if (name != "kind") r.attributes.emplace_back(name, results::string_attribute(group, name).value_or(""));
  results::TableData t = results::read_table(group, "rows");
  r.columns = std::move(t.columns);
  r.rows = std::move(t.rows);
  return r;
}

}  // namespace

std::vector<double> Report::numbers(const std::string& column) const {
  return results::TableData{columns, rows}.numbers(column);
}

std::vector<std::string> Report::strings(const std::string& column) const {
  return results::TableData{columns, rows}.strings(column);
}

std::string format_text(const Report& r) {
  std::vector<size_t> width;
  for (const auto& c : r.columns) width.push_back(c.name.size());
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : r.rows) {
    cells.emplace_back();
    for (size_t i = 0; i < row.size(); ++i) {
      cells.back().push_back(results::format_cell(row[i]));
      width[i] = std::max(width[i], cells.back().back().size());
    }
  }
  std::ostringstream out;
  for (const auto& [key, value] : r.attributes) out << "# " << key << ": " << value << "\n";
  out << "#";
  for (size_t i = 0; i < r.columns.size(); ++i) {
    out << std::string(width[i] + 2 - r.columns[i].name.size() - (i == 0), ' ') << r.columns[i].name;
  }
  out << "\n";
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) out << std::string(width[i] + 2 - row[i].size(), ' ') << row[i];
    out << "\n";
  }
  return out.str();
}

std::string format_csv(const Report& r) {
  std::ostringstream out;
  for (size_t i = 0; i < r.columns.size(); ++i) out << (i ? "," : "") << r.columns[i].name;
  out << "\n";
  for (const auto& row : r.rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out << (i ? "," : "");
      if (const auto* d = std::get_if<double>(&row[i]))
        out << *d;
      else
        out << results::format_cell(row[i]);
    }
    out << "\n";
  }
  return out.str();
}

std::string add_benchmark(const std::string& path, const Report& r) {
  results::ResultsFile file(path);
  std::string id;
  hid_t group = file.create_group("/benchmarks", r.kind, id);
  results::write_attribute(group, "kind", r.kind);
  results::write_attribute(group, "created", results::utc_now());
  for (const auto& [key, value] : r.attributes) results::write_attribute(group, key, value);
  {
    results::Table rows(group, "rows", r.columns);
    rows.append(r.rows);
  }
  H5Gclose(group);
  file.commit();
  return id;
}

std::vector<Report> read_benchmarks(const std::string& path) {
  results::ResultsReader file(path);
  std::vector<Report> out;
  for (const auto& id : results::group_names(file.handle(), "/benchmarks")) {
    hid_t g = H5Gopen2(file.handle(), ("/benchmarks/" + id).c_str(), H5P_DEFAULT);
    out.push_back(read_benchmark(g));
    out.back().attributes.emplace_back("id", id);
    H5Gclose(g);
  }
  return out;
}

}  // namespace parallax::bench
