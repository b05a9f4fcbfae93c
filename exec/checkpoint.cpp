#include "exec/checkpoint.hpp"

#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace parallax::exec {

namespace {

// The unpadded shape of a tensor as stored (vocabulary rows beyond V are not saved).
std::vector<hsize_t> stored_shape(const Gpt& model, const ParamTensor& t) {
  std::vector<hsize_t> dims(t.shape.begin(), t.shape.end());
  if (t.name == "transformer.wte.weight") dims[0] = model.model().vocab;
  return dims;
}

void write_dataset(hid_t parent, const std::string& name, const std::vector<hsize_t>& dims, const float* data) {
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t d = H5Dcreate2(parent, name.c_str(), H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  const herr_t status = d >= 0 ? H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
  if (d >= 0) H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(space);
  if (status < 0) throw std::runtime_error("HDF5: cannot write " + name);
}

void write_attr(hid_t obj, const char* name, long long value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, H5T_NATIVE_LLONG, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_LLONG, &value);
  H5Aclose(a);
  H5Sclose(space);
}

void write_attr(hid_t obj, const char* name, const std::string& value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  const char* s = value.c_str();
  H5Awrite(a, type, &s);
  H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
}

// Reads a dataset of exactly `dims` into `data`, or throws InputError naming what is wrong.
void read_dataset(hid_t file, const std::string& path, const std::string& name, const std::vector<hsize_t>& dims,
                  float* data) {
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0) throw InputError(path + ": no tensor " + name);
  hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> have(rank > 0 ? rank : 0);
  H5Sget_simple_extent_dims(space, have.data(), nullptr);
  H5Sclose(space);
  auto show = [](const std::vector<hsize_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  if (have != dims) {
    H5Dclose(d);
    throw InputError(path + ": " + name + " has shape " + show(have) + " but the model needs " + show(dims));
  }
  const herr_t status = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(d);
  if (status < 0) throw InputError(path + ": cannot read " + name);
}

}  // namespace

void save_checkpoint(const std::string& path, const Gpt& model, const OptimizerState* optimizer,
                     const std::string& config_json) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string tmp = path + ".tmp";
  hid_t file = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) throw InputError(path + ": cannot create the checkpoint");
  const auto& params = model.params();
  for (const auto& t : model.tensors()) {
    write_dataset(file, t.name, stored_shape(model, t), params.data() + t.offset);
    if (optimizer) {
      write_dataset(file, "optimizer/exp_avg/" + t.name, stored_shape(model, t), optimizer->m.data() + t.offset);
      write_dataset(file, "optimizer/exp_avg_sq/" + t.name, stored_shape(model, t), optimizer->v.data() + t.offset);
    }
  }
  write_attr(file, "format", std::string("parallax-checkpoint"));
  write_attr(file, "step", static_cast<long long>(optimizer ? optimizer->step : 0));
  write_attr(file, "config_json", config_json);
  H5Fflush(file, H5F_SCOPE_GLOBAL);
  H5Fclose(file);
  std::filesystem::rename(tmp, path);
}

int load_checkpoint(const std::string& path, Gpt& model, OptimizerState* optimizer) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path + ": no such checkpoint file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(path + ": not an HDF5 checkpoint");
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) throw InputError(path + ": cannot open the checkpoint");
  int step = 0;
  try {
    auto& params = model.params();
    for (const auto& t : model.tensors()) {
      std::fill(params.begin() + t.offset, params.begin() + t.offset + t.size, 0.0f);  // padded rows stay 0
      read_dataset(file, path, t.name, stored_shape(model, t), params.data() + t.offset);
    }
    const bool has_optimizer = H5Lexists(file, "optimizer", H5P_DEFAULT) > 0;
    if (optimizer && has_optimizer) {
      optimizer->m.assign(params.size(), 0.0f);
      optimizer->v.assign(params.size(), 0.0f);
      for (const auto& t : model.tensors()) {
        read_dataset(file, path, "optimizer/exp_avg/" + t.name, stored_shape(model, t), optimizer->m.data() + t.offset);
        read_dataset(file, path, "optimizer/exp_avg_sq/" + t.name, stored_shape(model, t),
                     optimizer->v.data() + t.offset);
      }
    }
    if (H5Aexists(file, "step") > 0) {
      hid_t a = H5Aopen(file, "step", H5P_DEFAULT);
      long long s = 0;
      H5Aread(a, H5T_NATIVE_LLONG, &s);
      H5Aclose(a);
      step = static_cast<int>(s);
    }
    if (optimizer) optimizer->step = has_optimizer ? step : 0;
  } catch (...) {
    H5Fclose(file);
    throw;
  }
  H5Fclose(file);
  return step;
}

}  // namespace parallax::exec
