#include "bench/report.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace parallax::bench {

namespace {

size_t column_index(const Report& r, const std::string& name) {
  for (size_t i = 0; i < r.columns.size(); ++i)
    if (r.columns[i].name == name) return i;
  throw InputError("benchmark " + r.kind + " has no column " + name);
}

// Times and bandwidths with nccl-tests' precision: two decimals, integers as they are.
std::string cell(const results::Value& v) {
  if (const auto* i = std::get_if<long long>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", *d);
    return text;
  }
  return std::get<std::string>(v);
}

// A variable-length string attribute, or "" when it is something else.
std::string string_attribute(hid_t object, const char* name) {
  hid_t attr = H5Aopen(object, name, H5P_DEFAULT);
  hid_t type = H5Aget_type(attr);
  std::string out;
  if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
    char* text = nullptr;
    hid_t memory = H5Tcopy(H5T_C_S1);
    H5Tset_size(memory, H5T_VARIABLE);
    if (H5Aread(attr, memory, &text) >= 0 && text) out = text;
    H5free_memory(text);
    H5Tclose(memory);
  }
  H5Tclose(type);
  H5Aclose(attr);
  return out;
}

// One member of the compound table as a column of values.
void read_column(hid_t dataset, hid_t file_type, unsigned member, size_t rows, Report& r) {
  char* name = H5Tget_member_name(file_type, member);
  const H5T_class_t cls = H5Tget_member_class(file_type, member);
  const results::ColumnType type = cls == H5T_INTEGER ? results::ColumnType::int64
                                   : cls == H5T_FLOAT ? results::ColumnType::float64
                                                      : results::ColumnType::string;
  r.columns.push_back({name, type});
  hid_t element = type == results::ColumnType::int64     ? H5Tcopy(H5T_NATIVE_LLONG)
                  : type == results::ColumnType::float64 ? H5Tcopy(H5T_NATIVE_DOUBLE)
                                                         : H5Tcopy(H5T_C_S1);
  if (type == results::ColumnType::string) H5Tset_size(element, H5T_VARIABLE);
  const size_t size = type == results::ColumnType::string ? sizeof(char*) : 8;
  hid_t memory = H5Tcreate(H5T_COMPOUND, size);
  H5Tinsert(memory, name, 0, element);
  std::vector<unsigned char> buffer(rows * size);
  if (rows > 0 && H5Dread(dataset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0)
    throw InputError(std::string("cannot read benchmark column ") + name);
  for (size_t i = 0; i < rows; ++i) {
    const unsigned char* at = buffer.data() + i * size;
    results::Value v;
    if (type == results::ColumnType::int64) {
      long long x;
      std::memcpy(&x, at, 8);
      v = x;
    } else if (type == results::ColumnType::float64) {
      double x;
      std::memcpy(&x, at, 8);
      v = x;
    } else {
      char* text;
      std::memcpy(&text, at, sizeof text);
      v = std::string(text ? text : "");
      H5free_memory(text);
    }
    r.rows[i].push_back(std::move(v));
  }
  H5Tclose(memory);
  H5Tclose(element);
  H5free_memory(name);
}

Report read_benchmark(hid_t group) {
  Report r;
  r.kind = string_attribute(group, "kind");
  const int attributes = H5Aget_num_attrs(group);
  for (int i = 0; i < attributes; ++i) {
    char name[256];
    hid_t attr = H5Aopen_idx(group, static_cast<unsigned>(i));
    H5Aget_name(attr, sizeof name, name);
    H5Aclose(attr);
    if (std::string(name) != "kind") r.attributes.emplace_back(name, string_attribute(group, name));
  }
  hid_t dataset = H5Dopen2(group, "rows", H5P_DEFAULT);
  if (dataset < 0) throw InputError("a benchmark without its rows");
  hid_t space = H5Dget_space(dataset);
  const auto rows = static_cast<size_t>(H5Sget_simple_extent_npoints(space));
  H5Sclose(space);
  r.rows.resize(rows);
  hid_t file_type = H5Dget_type(dataset);
  for (int m = 0; m < H5Tget_nmembers(file_type); ++m)
    read_column(dataset, file_type, static_cast<unsigned>(m), rows, r);
  H5Tclose(file_type);
  H5Dclose(dataset);
  return r;
}

}  // namespace

std::vector<double> Report::numbers(const std::string& column) const {
  const size_t c = column_index(*this, column);
  std::vector<double> out;
  for (const auto& row : rows) {
    const auto& v = row[c];
    if (const auto* i = std::get_if<long long>(&v))
      out.push_back(static_cast<double>(*i));
    else if (const auto* d = std::get_if<double>(&v))
      out.push_back(*d);
    else
      throw InputError("benchmark " + kind + ": column " + column + " holds text");
  }
  return out;
}

std::vector<std::string> Report::strings(const std::string& column) const {
  const size_t c = column_index(*this, column);
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(cell(row[c]));
  return out;
}

std::string format_text(const Report& r) {
  std::vector<size_t> width;
  for (const auto& c : r.columns) width.push_back(c.name.size());
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : r.rows) {
    cells.emplace_back();
    for (size_t i = 0; i < row.size(); ++i) {
      cells.back().push_back(cell(row[i]));
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
        out << cell(row[i]);
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
  if (!std::filesystem::exists(path)) throw InputError(path + ": no such results file");
  results::ResultsFile file(path, false);
  std::vector<Report> out;
  hid_t f = file.handle();
  if (H5Lexists(f, "/benchmarks", H5P_DEFAULT) <= 0) return out;
  hid_t benchmarks = H5Gopen2(f, "/benchmarks", H5P_DEFAULT);
  H5G_info_t info;
  H5Gget_info(benchmarks, &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    hid_t g = H5Oopen_by_idx(benchmarks, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT);
    out.push_back(read_benchmark(g));
    H5Oclose(g);
  }
  H5Gclose(benchmarks);
  return out;
}

}  // namespace parallax::bench
