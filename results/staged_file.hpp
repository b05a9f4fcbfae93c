// Writing a file so that nothing is lost: the new content goes to a staging file of a unique
// name beside the target, which is synced to disk, checked by reopening it, and only then renamed
// over the target in one step. Writers of one directory take turns (an exclusive lock on the
// directory), so that two `--out` of one file both land. Only a regular file is ever replaced.
// Any failure (a full disk, an I/O error) removes the staging file and leaves the target as it
// was, with an InputError of one line.
#pragma once
#include <functional>
#include <memory>
#include <string>

namespace parallax::results {

// An exclusive lock on the directory of `path` while it lives (flock): the turns writers take.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& path);  // InputError when the directory cannot be locked
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

class StagedFile {
 public:
  // InputError when `path` exists and is not a regular file, or its directory does not exist.
  // `lock`: take the directory's lock (false when the caller holds it already).
  explicit StagedFile(const std::string& path, bool lock = true);
  ~StagedFile();  // without commit(): the staging file is removed, the target untouched
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& staging() const { return staging_; }  // exists, empty, until written
  // Writes `bytes` to the staging file. InputError (the staging file removed) when the disk
  // refuses them.
  void write(const void* data, size_t bytes);
  // Syncs the staging file, lets `verify` read it back (it throws when what it reads is wrong),
  // renames it over the target and syncs the directory.
  void commit(const std::function<void(const std::string& staging)>& verify = {});

 private:
  std::string path_, staging_;
  std::unique_ptr<DirectoryLock> lock_;
  bool committed_ = false;
};

// A new empty file of a unique name beside `path` (".<name>.<tag>-XXXXXX"), for content that
// grows before it joins `path`. InputError when it cannot be made.
std::string unique_file_beside(const std::string& path, const std::string& tag);

// Writes `text` to `path` through a StagedFile.
void write_file_atomically(const std::string& path, const std::string& text);

// Whether `path` may be replaced: absent, or a regular file (not a directory, device or FIFO).
// InputError naming what it is otherwise.
void check_replaceable(const std::string& path);

}  // namespace parallax::results
