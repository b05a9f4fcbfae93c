#include "results/memory_file.hpp"

#include <vector>

#include "models/experiment.hpp"
#include "results/staged_file.hpp"

namespace parallax::results {

namespace {
hid_t memory_access() {
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_core(fapl, 1 << 20, 0);  // grows by 1 MiB, nothing written back
  return fapl;
}
}  // namespace

hid_t create_in_memory(const std::string& name) {
  const hid_t fapl = memory_access();
  const hid_t f = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (f < 0) throw InputError(name + ": cannot create an HDF5 file in memory");
  return f;
}

hid_t open_in_memory(const std::string& path) {
  const hid_t fapl = memory_access();
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl);
  H5Pclose(fapl);
  if (f < 0) throw InputError(path + ": cannot read the HDF5 file");
  return f;
}

void save_image(hid_t file, const std::string& path, const std::function<void(const std::string&)>& verify, bool lock) {
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) throw InputError(path + ": cannot assemble the file in memory");
  const ssize_t size = H5Fget_file_image(file, nullptr, 0);
  if (size < 0) throw InputError(path + ": cannot assemble the file in memory");
  std::vector<char> image(static_cast<size_t>(size));
  if (H5Fget_file_image(file, image.data(), image.size()) != size)
    throw InputError(path + ": cannot assemble the file in memory");
  StagedFile staged(path, lock);
  staged.write(image.data(), image.size());
  staged.commit(verify);
}

}  // namespace parallax::results
