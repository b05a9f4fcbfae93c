#include "results/results_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <stdexcept>

#include "results/memory_file.hpp"

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

std::string host_name() {
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  return host;
}

namespace {

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

// Whether an open HDF5 file carries schema = "parallax-results".
bool ours(hid_t file) {
  bool yes = false;
  if (H5Aexists(file, "schema") > 0) {
    hid_t a = H5Aopen(file, "schema", H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
      char* s = nullptr;
      hid_t mt = string_type();
      if (H5Aread(a, mt, &s) >= 0 && s) {
        yes = std::string(s) == "parallax-results";
        H5free_memory(s);
      }
      H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
  }
  return yes;
}

// Opens an existing results file (read-only or read-write), or throws InputError naming `path`.
hid_t open_ours(const std::string& file, const std::string& path, unsigned flags) {
  if (H5Fis_hdf5(file.c_str()) <= 0) throw InputError(path + " is not an HDF5 file (expected a Parallax results file)");
  hid_t f = H5Fopen(file.c_str(), flags, H5P_DEFAULT);
  if (f < 0) throw InputError(path + ": cannot open the HDF5 file");
  if (!ours(f)) {
    H5Fclose(f);
    throw InputError(path + " is an HDF5 file but not a Parallax results file (no schema = \"parallax-results\")");
  }
  return f;
}

}  // namespace

ResultsFile::ResultsFile(const std::string& path) : path_(path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by us, in one line
  check_replaceable(path);
  if (const auto dir = std::filesystem::path(path).parent_path(); !dir.empty() && !std::filesystem::is_directory(dir))
    throw InputError(path + ": directory " + dir.string() + " does not exist");
  lock_ = std::make_unique<DirectoryLock>(path);  // from reading the file to replacing it
  if (std::filesystem::exists(path)) {
    H5Fclose(open_ours(path, path, H5F_ACC_RDONLY));
    file_ = open_in_memory(path);
  } else {
    file_ = create_in_memory(path);
    write_header(file_);
  }
}

ResultsFile::~ResultsFile() {
  if (file_ >= 0) H5Fclose(file_);
}

void write_header(hid_t file) {
  write_attribute(file, "schema", std::string("parallax-results"));
  write_attribute(file, "schema_version", 1LL);
  write_attribute(file, "created_utc", utc_now());
  write_attribute(file, "tool_version", std::string(PARALLAX_VERSION));
  write_attribute(file, "git_sha", std::string(PARALLAX_GIT_SHA));
}

hid_t create_unique_group(hid_t file, const std::string& parent, const std::string& prefix, std::string& id,
                          hid_t also) {
  if (H5Lexists(file, parent.c_str(), H5P_DEFAULT) <= 0) {
    hid_t g = H5Gcreate2(file, parent.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) throw InputError("cannot create " + parent + " in the results file");
    H5Gclose(g);
  }
  std::string stamp = utc_now();
  std::erase(stamp, '-');
  std::erase(stamp, ':');
  const auto taken = [](hid_t f, const std::string& path) {
    return f >= 0 && H5Lexists(f, parent_of(path).c_str(), H5P_DEFAULT) > 0 &&
           H5Lexists(f, path.c_str(), H5P_DEFAULT) > 0;
  };
  for (int n = 1;; ++n) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "-%03d", n);
    id = prefix + "-" + stamp + suffix;
    const std::string full = parent + "/" + id;
    if (!taken(file, full) && !taken(also, full)) {
      const hid_t g = H5Gcreate2(file, full.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (g < 0) throw InputError("cannot create " + full + " in the results file");
      return g;
    }
  }
}

hid_t ResultsFile::create_group(const std::string& parent, const std::string& prefix, std::string& id) {
  return create_unique_group(file_, parent, prefix, id);
}

void ResultsFile::commit() {
  save_image(
      file_, path_,
      [](const std::string& staging) {
        const hid_t f = H5Fopen(staging.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        const bool readable = f >= 0 && ours(f);
        if (f >= 0) H5Fclose(f);
        if (!readable) throw std::runtime_error("not a readable results file");
      },
      false);
  H5Fclose(file_);
  file_ = -1;
  lock_.reset();
}

ResultsReader::ResultsReader(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": no such results file");
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path + " is not a regular file");
  file_ = open_ours(path, path, H5F_ACC_RDONLY);
}

ResultsReader::~ResultsReader() {
  if (file_ >= 0) H5Fclose(file_);
}

}  // namespace parallax::results
