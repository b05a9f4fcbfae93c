#include "results/read_table.hpp"

#include <cstdio>
#include <cstring>

namespace parallax::results {

namespace {

ColumnType column_type(hid_t file_type, unsigned member) {
  const H5T_class_t cls = H5Tget_member_class(file_type, member);
  return cls == H5T_INTEGER ? ColumnType::int64 : cls == H5T_FLOAT ? ColumnType::float64 : ColumnType::string;
}

// One member of a compound table, read alone through a one-member memory type.
void read_column(hid_t dataset, const Column& c, size_t rows, TableData& t) {
  hid_t element = c.type == ColumnType::int64     ? H5Tcopy(H5T_NATIVE_LLONG)
                  : c.type == ColumnType::float64 ? H5Tcopy(H5T_NATIVE_DOUBLE)
                                                  : H5Tcopy(H5T_C_S1);
  if (c.type == ColumnType::string) H5Tset_size(element, H5T_VARIABLE);
  const size_t size = c.type == ColumnType::string ? sizeof(char*) : 8;
  hid_t memory = H5Tcreate(H5T_COMPOUND, size);
  H5Tinsert(memory, c.name.c_str(), 0, element);
  std::vector<unsigned char> buffer(rows * size);
  const bool ok = rows == 0 || H5Dread(dataset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) >= 0;
  H5Tclose(memory);
  H5Tclose(element);
  if (!ok) throw InputError("cannot read column " + c.name);
  for (size_t i = 0; i < rows; ++i) {
    const unsigned char* at = buffer.data() + i * size;
    Value v;
    if (c.type == ColumnType::int64) {
      long long x;
      std::memcpy(&x, at, 8);
      v = x;
    } else if (c.type == ColumnType::float64) {
      double x;
      std::memcpy(&x, at, 8);
      v = x;
    } else {
      char* text;
      std::memcpy(&text, at, sizeof text);
      v = std::string(text ? text : "");
      H5free_memory(text);
    }
    t.rows[i].push_back(std::move(v));
  }
}

size_t index_of(const TableData& t, const std::string& name) {
  for (size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i].name == name) return i;
  throw InputError("no column " + name);
}

}  // namespace

bool TableData::has(const std::string& column) const {
  for (const auto& c : columns)
    if (c.name == column) return true;
  return false;
}

std::vector<double> TableData::numbers(const std::string& column) const {
  const size_t c = index_of(*this, column);
  std::vector<double> out;
  for (const auto& row : rows) {
    if (const auto* i = std::get_if<long long>(&row[c]))
      out.push_back(static_cast<double>(*i));
    else if (const auto* d = std::get_if<double>(&row[c]))
      out.push_back(*d);
    else
      throw InputError("column " + column + " holds text");
  }
  return out;
}

std::vector<std::string> TableData::strings(const std::string& column) const {
  const size_t c = index_of(*this, column);
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(format_cell(row[c]));
  return out;
}

TableData read_table(hid_t group, const std::string& name) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) <= 0) throw InputError("no table " + name);
  hid_t dataset = H5Dopen2(group, name.c_str(), H5P_DEFAULT);
  if (dataset < 0) throw InputError("cannot open table " + name);
  hid_t space = H5Dget_space(dataset);
  const auto rows = static_cast<size_t>(H5Sget_simple_extent_npoints(space));
  H5Sclose(space);
  TableData t;
  t.rows.resize(rows);
  hid_t file_type = H5Dget_type(dataset);
  try {
    for (int m = 0; m < H5Tget_nmembers(file_type); ++m) {
      char* member = H5Tget_member_name(file_type, static_cast<unsigned>(m));
      t.columns.push_back({member, column_type(file_type, static_cast<unsigned>(m))});
      H5free_memory(member);
      read_column(dataset, t.columns.back(), rows, t);
    }
  } catch (...) {
    H5Tclose(file_type);
    H5Dclose(dataset);
    throw;
  }
  H5Tclose(file_type);
  H5Dclose(dataset);
  return t;
}

std::optional<std::string> string_attribute(hid_t object, const std::string& name) {
  if (H5Aexists(object, name.c_str()) <= 0) return std::nullopt;
  hid_t attr = H5Aopen(object, name.c_str(), H5P_DEFAULT);
  hid_t type = H5Aget_type(attr);
  std::optional<std::string> out;
  if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
    char* text = nullptr;
    hid_t memory = H5Tcopy(H5T_C_S1);
    H5Tset_size(memory, H5T_VARIABLE);
    if (H5Aread(attr, memory, &text) >= 0 && text) out = std::string(text);
    H5free_memory(text);
    H5Tclose(memory);
  }
  H5Tclose(type);
  H5Aclose(attr);
  return out;
}

std::optional<double> number_attribute(hid_t object, const std::string& name) {
  if (H5Aexists(object, name.c_str()) <= 0) return std::nullopt;
  hid_t attr = H5Aopen(object, name.c_str(), H5P_DEFAULT);
  hid_t type = H5Aget_type(attr);
  std::optional<double> out;
  const H5T_class_t cls = H5Tget_class(type);
  double x = 0;
  if ((cls == H5T_FLOAT || cls == H5T_INTEGER) && H5Aread(attr, H5T_NATIVE_DOUBLE, &x) >= 0) out = x;
  H5Tclose(type);
  H5Aclose(attr);
  return out;
}

std::vector<std::string> attribute_names(hid_t object) {
  std::vector<std::string> out;
  const int count = H5Aget_num_attrs(object);
  for (int i = 0; i < count; ++i) {
    char name[256];
    H5Aget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, static_cast<hsize_t>(i), name, sizeof name,
                       H5P_DEFAULT);
    out.emplace_back(name);
  }
  return out;
}

std::vector<std::string> group_names(hid_t file, const std::string& path) {
  std::vector<std::string> out;
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) return out;
  hid_t group = H5Gopen2(file, path.c_str(), H5P_DEFAULT);
  H5G_info_t info;
  H5Gget_info(group, &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[256];
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    out.emplace_back(name);
  }
  H5Gclose(group);
  return out;
}

std::string format_cell(const Value& v) {
  if (const auto* i = std::get_if<long long>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", *d);
    return text;
  }
  return std::get<std::string>(v);
}

}  // namespace parallax::results
