#include "exec/checkpoint.hpp"

#include <hdf5.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#include "results/memory_file.hpp"
#include "results/results_file.hpp"
#include "sim/placement.hpp"

namespace parallax::exec {

namespace {

std::vector<hsize_t> dims_of(const std::vector<long>& shape) { return {shape.begin(), shape.end()}; }

long elements(const std::vector<long>& shape) {
  long n = 1;
  for (long d : shape) n *= d;
  return n;
}

// CRC-32 (zlib's) of a tensor's float32 values as stored (little-endian, as x86 and the file).
long long checksum(const float* data, long n) {
  return static_cast<long long>(
      crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(static_cast<size_t>(n) * sizeof(float))));
}

// Writes a dataset with its checksum (attribute crc32), or throws InputError.
void write_dataset(hid_t parent, const std::string& path, const std::string& name, const std::vector<hsize_t>& dims,
                   const float* data) {
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t d = H5Dcreate2(parent, name.c_str(), H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  herr_t status = d >= 0 ? H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
  if (status >= 0) {
    long n = 1;
    for (hsize_t x : dims) n *= static_cast<long>(x);
    results::write_attribute(d, "crc32", checksum(data, n));
  }
  if (d >= 0) H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(space);
  if (status < 0) throw InputError(path + ": cannot write " + name + " in memory");
}

// The stored checksum of a dataset, when it has one.
std::optional<long long> stored_checksum(hid_t d) {
  if (H5Aexists(d, "crc32") <= 0) return std::nullopt;
  hid_t a = H5Aopen(d, "crc32", H5P_DEFAULT);
  long long value = 0;
  const herr_t status = H5Aread(a, H5T_NATIVE_LLONG, &value);
  H5Aclose(a);
  return status >= 0 ? std::optional<long long>(value) : std::nullopt;
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
  const std::optional<long long> stored = stored_checksum(d);
  H5Dclose(d);
  if (status < 0) throw InputError(path + ": cannot read " + name + " (the file is damaged)");
  long n = 1;
  for (hsize_t x : dims) n *= static_cast<long>(x);
  if (stored && *stored != checksum(data, n))
    throw InputError(path + ": " + name + " does not match its checksum (the file is damaged)");
}

struct WholeTensor {
  const ParamTensor* tensor;   // name and whole shape
  std::vector<float> data[3];  // parameter, exp_avg, exp_avg_sq
};

void write_file(const std::string& path, const std::vector<WholeTensor>& tensors, bool with_optimizer, int step,
                const std::string& config_json) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t file = results::create_in_memory(path);  // saved in one staged write
  try {
    for (const auto& w : tensors) {
      const auto dims = dims_of(w.tensor->shape);
      write_dataset(file, path, w.tensor->name, dims, w.data[0].data());
      if (with_optimizer) {
        write_dataset(file, path, "optimizer/exp_avg/" + w.tensor->name, dims, w.data[1].data());
        write_dataset(file, path, "optimizer/exp_avg_sq/" + w.tensor->name, dims, w.data[2].data());
      }
    }
    results::write_attribute(file, "format", std::string("parallax-checkpoint"));
    results::write_attribute(file, "step", static_cast<long long>(step));
    results::write_attribute(file, "config_json", config_json);
    results::save_image(file, path, [&](const std::string& staging) {  // every tensor reads back, checksums match
      const hid_t f = H5Fopen(staging.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      if (f < 0) throw std::runtime_error("not an HDF5 file");
      try {
        std::vector<float> data;
        for (const auto& w : tensors) {
          data.resize(w.data[0].size());
          read_dataset(f, path, w.tensor->name, dims_of(w.tensor->shape), data.data());
        }
      } catch (...) {
        H5Fclose(f);
        throw;
      }
      H5Fclose(f);
    });
  } catch (...) {
    H5Fclose(file);
    throw;
  }
  H5Fclose(file);
}

}  // namespace

void save_checkpoint(const std::string& path, const Gpt& model, const OptimizerState* optimizer,
                     const std::string& config_json, Communicator& world, const ParallelConfig& parallel) {
  const Layout& mine = model.layout();
  const int parts = optimizer ? 3 : 1;
  const float* local[3] = {model.params().data(), optimizer ? optimizer->m.data() : nullptr,
                           optimizer ? optimizer->v.data() : nullptr};
  constexpr int tag = 7;  // messages from one rank arrive in the order sent: the tensors' order
  if (world.rank() != 0) {
    if (mine.dp_rank == 0)
      for (const auto& t : model.tensors())
        if (t.primary)
          for (int k = 0; k < parts; ++k) world.send(local[k] + t.offset, t.size, 0, tag);
    world.wait_sends();
    return;
  }
  // Rank 0: every whole tensor from the TP slices of the pipeline rank holding it.
  const std::vector<ParamTensor> whole = rank_tensors(model.model(), Layout{});
  std::vector<WholeTensor> out;
  std::vector<float> buffer;
  std::map<std::pair<int, int>, std::map<std::string, ParamTensor>> holders;  // by (tp, pp) rank: its tensors
  for (const auto& w : whole) {
    WholeTensor t{&w, {}};
    for (int k = 0; k < parts; ++k) t.data[k].assign(elements(w.shape), 0.0f);
    Layout holder = mine;
    holder.pp_rank = pipeline_rank_of(model.model(), mine, w.name);
    holder.dp_rank = 0;
    for (holder.tp_rank = 0; holder.tp_rank < (w.split == Split::none ? 1 : mine.tp); ++holder.tp_rank) {
      const int source = sim::rank_of({holder.tp_rank, 0, holder.pp_rank}, parallel);
      auto it = holders.find({holder.tp_rank, holder.pp_rank});
      if (it == holders.end()) {
        std::map<std::string, ParamTensor> by_name;
        for (auto& t : rank_tensors(model.model(), holder)) by_name.emplace(t.name, t);
        it = holders.emplace(std::make_pair(holder.tp_rank, holder.pp_rank), std::move(by_name)).first;
      }
      const ParamTensor& slice = it->second.at(w.name);
      for (int k = 0; k < parts; ++k) {
        const float* data = local[k] + (source == 0 ? model.tensor(w.name).offset : 0);
        if (source != 0) {
          buffer.resize(slice.size);
          world.recv(buffer.data(), slice.size, source, tag);
          data = buffer.data();
        }
        slice_to_whole(slice, mine.tp, holder.tp_rank, data, t.data[k].data());
      }
    }
    out.push_back(std::move(t));
  }
  write_file(path, out, optimizer != nullptr, optimizer ? optimizer->step : 0, config_json);
}

void save_checkpoint(const std::string& path, const Gpt& model, const OptimizerState* optimizer,
                     const std::string& config_json) {
  SingleProcess self;
  save_checkpoint(path, model, optimizer, config_json, self, ParallelConfig{});
}

int load_checkpoint(const std::string& path, Gpt& model, OptimizerState* optimizer) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path + ": no such checkpoint file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(path + ": not an HDF5 checkpoint");
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) throw InputError(path + ": cannot open the checkpoint");
  const Layout& l = model.layout();
  int step = 0;
  try {
    const bool has_optimizer = H5Lexists(file, "optimizer", H5P_DEFAULT) > 0;
    const bool with_optimizer = optimizer && has_optimizer;
    if (with_optimizer) {
      optimizer->m.assign(model.params().size(), 0.0f);
      optimizer->v.assign(model.params().size(), 0.0f);
    }
    std::vector<float> whole;
    auto read = [&](const std::string& name, const ParamTensor& t, float* slice) {
      whole.resize(elements(t.shape));
      read_dataset(file, path, name, dims_of(t.shape), whole.data());
      slice_from_whole(t, l.tp, l.tp_rank, whole.data(), slice);
    };
    for (const auto& t : model.tensors()) {
      read(t.name, t, model.params().data() + t.offset);
      if (with_optimizer) {
        read("optimizer/exp_avg/" + t.name, t, optimizer->m.data() + t.offset);
        read("optimizer/exp_avg_sq/" + t.name, t, optimizer->v.data() + t.offset);
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
  model.cast_weights();
  return step;
}

}  // namespace parallax::exec
