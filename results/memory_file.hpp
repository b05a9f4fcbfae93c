// HDF5 files built in memory (the core driver without a backing store) and saved as one image
// through a StagedFile: HDF5 itself never writes to disk, so a full disk or an I/O error fails in
// our write, where it is caught and reported, and never inside HDF5 (1.10 crashes in H5Ocopy or
// at exit after some failed writes).
#pragma once
#include <hdf5.h>

#include <functional>
#include <string>

namespace parallax::results {

// A new, empty HDF5 file in memory (`name` only labels it). InputError when HDF5 refuses.
hid_t create_in_memory(const std::string& name);
// An existing HDF5 file read into memory, writable there; the file on disk is not changed.
hid_t open_in_memory(const std::string& path);
// Writes the image of `file` (flushed first) to `path` through a StagedFile: synced, read back by
// `verify` when given, then renamed over `path`. InputError (`path` as it was) on failure.
// `lock`: take the directory's lock (false when the caller holds it).
void save_image(hid_t file, const std::string& path, const std::function<void(const std::string&)>& verify = {},
                bool lock = true);

}  // namespace parallax::results
