#include "results/results_file.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <stdexcept>

namespace parallax::results {

namespace {

hid_t string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

void check(herr_t status, const std::string& what) {
  if (status < 0) throw std::runtime_error("HDF5: " + what + " failed");
}

}  // namespace

Table::Table(hid_t parent, const std::string& name, std::vector<Column> columns) : columns_(std::move(columns)) {
  for (const auto& c : columns_) {
    offsets_.push_back(row_size_);
    row_size_ += c.type == ColumnType::string ? sizeof(char*) : 8;
  }
  type_ = H5Tcreate(H5T_COMPOUND, row_size_);
  for (size_t i = 0; i < columns_.size(); ++i) {
    hid_t member = columns_[i].type == ColumnType::int64     ? H5Tcopy(H5T_NATIVE_LLONG)
                   : columns_[i].type == ColumnType::float64 ? H5Tcopy(H5T_NATIVE_DOUBLE)
                                                             : string_type();
    check(H5Tinsert(type_, columns_[i].name.c_str(), offsets_[i], member), "H5Tinsert " + columns_[i].name);
    H5Tclose(member);
  }
  const hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {256};
  hid_t space = H5Screate_simple(1, dims, maxdims);
  hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(plist, 1, chunk);
  dataset_ = H5Dcreate2(parent, name.c_str(), type_, space, H5P_DEFAULT, plist, H5P_DEFAULT);
  H5Pclose(plist);
  H5Sclose(space);
  if (dataset_ < 0) throw std::runtime_error("HDF5: cannot create table " + name);
}

Table::~Table() {
  if (dataset_ >= 0) H5Dclose(dataset_);
  if (type_ >= 0) H5Tclose(type_);
}

void Table::append(const std::vector<std::vector<Value>>& rows) {
  if (rows.empty()) return;
  std::vector<unsigned char> buffer(rows.size() * row_size_);
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != columns_.size()) throw std::logic_error("table row has the wrong number of columns");
    unsigned char* row = buffer.data() + r * row_size_;
    for (size_t c = 0; c < columns_.size(); ++c) {
      unsigned char* field = row + offsets_[c];
      const Value& v = rows[r][c];
      switch (columns_[c].type) {
        case ColumnType::int64: {
          const long long x = std::get<long long>(v);
          std::memcpy(field, &x, 8);
          break;
        }
        case ColumnType::float64: {
          const double x = std::get<double>(v);
          std::memcpy(field, &x, 8);
          break;
        }
        case ColumnType::string: {
          const char* s = std::get<std::string>(v).c_str();
          std::memcpy(field, &s, sizeof(char*));
          break;
        }
      }
    }
  }
  const hsize_t start[1] = {rows_}, count[1] = {rows.size()}, total[1] = {rows_ + rows.size()};
  check(H5Dset_extent(dataset_, total), "H5Dset_extent");
  hid_t file_space = H5Dget_space(dataset_);
  H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr);
  hid_t mem_space = H5Screate_simple(1, count, nullptr);
  const herr_t status = H5Dwrite(dataset_, type_, mem_space, file_space, H5P_DEFAULT, buffer.data());
  H5Sclose(mem_space);
  H5Sclose(file_space);
  check(status, "H5Dwrite");
  rows_ += rows.size();
  H5Dflush(dataset_);
}

void write_attribute(hid_t object, const std::string& name, const Value& value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t type;
  const void* data;
  long long i = 0;
  double d = 0;
  const char* s = nullptr;
  if (std::holds_alternative<long long>(value)) {
    type = H5Tcopy(H5T_NATIVE_LLONG);
    i = std::get<long long>(value);
    data = &i;
  } else if (std::holds_alternative<double>(value)) {
    type = H5Tcopy(H5T_NATIVE_DOUBLE);
    d = std::get<double>(value);
    data = &d;
  } else {
    type = string_type();
    s = std::get<std::string>(value).c_str();
    data = &s;
  }
  if (H5Aexists(object, name.c_str()) > 0) H5Adelete(object, name.c_str());
  hid_t attr = H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  const herr_t status = H5Awrite(attr, type, data);
  H5Aclose(attr);
  H5Tclose(type);
  H5Sclose(space);
  check(status, "writing attribute " + name);
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ResultsFile::ResultsFile(const std::string& path, bool staged)
    : path_(path), staging_(staged ? path + ".tmp" : path), staged_(staged) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by us, in one line
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path_)) {
    if (H5Fis_hdf5(path_.c_str()) <= 0)
      throw InputError(path_ + " is not an HDF5 file (expected a Parallax results file)");
    if (staged_) fs::copy_file(path_, staging_, fs::copy_options::overwrite_existing, ec);
    if (ec) throw InputError(path_ + ": cannot copy for update: " + ec.message());
    file_ = H5Fopen(staging_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    if (file_ < 0) throw InputError(path_ + ": cannot open the HDF5 file");
    bool ours = false;
    if (H5Aexists(file_, "schema") > 0) {
      hid_t a = H5Aopen(file_, "schema", H5P_DEFAULT);
      hid_t t = H5Aget_type(a);
      if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
        char* s = nullptr;
        hid_t mt = string_type();
        if (H5Aread(a, mt, &s) >= 0 && s) {
          ours = std::string(s) == "parallax-results";
          H5free_memory(s);
        }
        H5Tclose(mt);
      }
      H5Tclose(t);
      H5Aclose(a);
    }
    if (!ours) {
      H5Fclose(file_);
      file_ = -1;
      if (staged_) fs::remove(staging_, ec);
      throw InputError(path_ + " is an HDF5 file but not a Parallax results file (no schema = \"parallax-results\")");
    }
  } else {
    const fs::path parent = fs::path(path_).parent_path();
    if (!parent.empty() && !fs::is_directory(parent))
      throw InputError(path_ + ": directory " + parent.string() + " does not exist");
    file_ = H5Fcreate(staging_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file_ < 0) throw InputError(path_ + ": cannot create the file");
    write_attribute(file_, "schema", std::string("parallax-results"));
    write_attribute(file_, "schema_version", 1LL);
    write_attribute(file_, "created_utc", utc_now());
    write_attribute(file_, "tool_version", std::string(PARALLAX_VERSION));
    write_attribute(file_, "git_sha", std::string(PARALLAX_GIT_SHA));
  }
}

ResultsFile::~ResultsFile() {
  if (file_ >= 0) {
    H5Fclose(file_);
    std::error_code ec;
    if (staged_) std::filesystem::remove(staging_, ec);
  }
}

hid_t ResultsFile::create_group(const std::string& parent, const std::string& prefix, std::string& id) {
  if (H5Lexists(file_, parent.c_str(), H5P_DEFAULT) <= 0) {
    hid_t g = H5Gcreate2(file_, parent.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
  }
  std::string stamp = utc_now();
  std::erase(stamp, '-');
  std::erase(stamp, ':');
  for (int n = 1;; ++n) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "-%03d", n);
    id = prefix + "-" + stamp + suffix;
    const std::string full = parent + "/" + id;
    if (H5Lexists(file_, full.c_str(), H5P_DEFAULT) <= 0)
      return H5Gcreate2(file_, full.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  }
}

void ResultsFile::commit() {
  H5Fflush(file_, H5F_SCOPE_GLOBAL);
  H5Fclose(file_);
  file_ = -1;
  if (staged_) std::filesystem::rename(staging_, path_);
}

}  // namespace parallax::results
