#include "study/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "models/experiment.hpp"

extern char** environ;

namespace parallax::study {

namespace {

int decode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

// Reads what the program wrote to the pipe until it closes it.
std::string drain(int fd) {
  std::string out;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& log, const exec::StopSignals* stop) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int pipe_fds[2] = {-1, -1};
  if (log.empty()) {
    if (pipe(pipe_fds) != 0) throw InputError("cannot create a pipe: " + std::string(std::strerror(errno)));
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int started = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (pipe_fds[1] >= 0) close(pipe_fds[1]);
  if (started != 0) {
    if (pipe_fds[0] >= 0) close(pipe_fds[0]);
    throw InputError("cannot start " + argv[0] + ": " + std::strerror(started));
  }
  ProcessResult result;
  if (pipe_fds[0] >= 0) {
    result.output = drain(pipe_fds[0]);
    close(pipe_fds[0]);
  }
  bool passed_on = false;
  int wait_status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &wait_status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) throw InputError("lost " + argv[0] + ": " + std::strerror(errno));
    if (stop && stop->received() && !passed_on) {
      kill(pid, stop->received());
      passed_on = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  result.status = decode(wait_status);
  return result;
}

}  // namespace parallax::study
