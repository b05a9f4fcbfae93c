#include "results/staged_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "models/experiment.hpp"

namespace parallax::results {

namespace fs = std::filesystem;

namespace {

std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

bool sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

void check_replaceable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // absent
  if (S_ISREG(st.st_mode)) return;
  const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "not a regular file";
  throw InputError(path + " is " + what + ", not a file to write");
}

DirectoryLock::DirectoryLock(const std::string& path) {
  const std::string dir = directory_of(path);
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) throw InputError(path + ": cannot open its directory (" + std::strerror(errno) + ")");
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string why = std::strerror(errno);
    ::close(fd_);
    throw InputError(path + ": cannot lock its directory (" + why + ")");
  }
}

DirectoryLock::~DirectoryLock() { ::close(fd_); }  // releases the lock

StagedFile::StagedFile(const std::string& path, bool lock) : path_(path) {
  check_replaceable(path);
  const std::string dir = directory_of(path);
  if (!fs::is_directory(dir)) throw InputError(path + ": directory " + dir + " does not exist");
  if (lock) lock_ = std::make_unique<DirectoryLock>(path);
  staging_ = unique_file_beside(path, "staging");
}

std::string unique_file_beside(const std::string& path, const std::string& tag) {
  std::string leaf = ".";
  leaf.append(fs::path(path).filename().string()).append(".").append(tag).append("-XXXXXX");
  const std::string name = (fs::path(directory_of(path)) / leaf).string();
  std::vector<char> buffer(name.begin(), name.end());
  buffer.push_back('\0');
  const int fd = ::mkstemp(buffer.data());
  if (fd < 0) throw InputError(path + ": cannot create a file beside it (" + std::strerror(errno) + ")");
  ::close(fd);
  return buffer.data();
}

StagedFile::~StagedFile() {
  if (!committed_) ::unlink(staging_.c_str());
}

void StagedFile::commit(const std::function<void(const std::string&)>& verify) {
  const auto fail = [&](const std::string& why) {
    ::unlink(staging_.c_str());
    committed_ = true;  // nothing left to remove
    return InputError(path_ + ": " + why + "; the file is as it was");
  };
  if (!sync_path(staging_, O_RDONLY))
    throw fail(std::string("cannot sync the new content (") + std::strerror(errno) + ")");
  if (verify) {
    try {
      verify(staging_);
    } catch (const std::exception& e) {
      throw fail(std::string("the new content does not read back (") + e.what() + ")");
    }
  }
  check_replaceable(path_);
  // The target's permissions, or those a new file gets (mkstemp made the staging file 0600).
  struct stat st {};
  mode_t mode = 0;
  if (::stat(path_.c_str(), &st) == 0) {
    mode = st.st_mode & 07777;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  ::chmod(staging_.c_str(), mode);
  if (::rename(staging_.c_str(), path_.c_str()) != 0)
    throw fail(std::string("cannot replace it (") + std::strerror(errno) + ")");
  committed_ = true;
  sync_path(directory_of(path_), O_RDONLY | O_DIRECTORY);
}

void StagedFile::write(const void* data, size_t bytes) {
  const auto fail = [&](const std::string& why) {
    ::unlink(staging_.c_str());
    committed_ = true;  // nothing left to remove
    return InputError(path_ + ": cannot write the file (" + why + "); it is as it was");
  };
  const int fd = ::open(staging_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) throw fail(std::strerror(errno));
  const char* at = static_cast<const char*>(data);
  size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::write(fd, at + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "no space";
      ::close(fd);
      throw fail(why);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) throw fail(std::strerror(errno));
}

void write_file_atomically(const std::string& path, const std::string& text) {
  StagedFile staged(path);
  staged.write(text.data(), text.size());
  staged.commit();
}

}  // namespace parallax::results
