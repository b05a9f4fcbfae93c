// Prints how long one `predict` takes on large plans (no assertions: a figure to read).
#include <chrono>
#include <cstdio>

#include "models/toml_reader.hpp"
#include "sim/predict.hpp"

int main() {
  using clock = std::chrono::steady_clock;
  struct Case {
    const char* name;
    const char* toml;
  } cases[] = {
      {"1T on 3072 A100 (t8p64d6)",
       "[model]\npreset=\"megatron-1t\"\n[system]\npreset=\"dgx-a100-80g\"\ngpus=3072\n[parallel]\ntp=8\npp=64\n"
       "[training]\nglobal_batch=3072\nmicro_batch=1\nrecompute=\"full\"\nprecision=\"fp16\"\n"},
      {"GPT-3 175B on 1024 A100 (t8p8d16v3)",
       "[model]\npreset=\"gpt3-175b\"\n[system]\npreset=\"dgx-a100-80g\"\ngpus=1024\n[parallel]\ntp=8\npp=8\nvpp=3\n"
       "[training]\nglobal_batch=1536\nmicro_batch=1\nrecompute=\"selective\"\n"},
  };
  for (const auto& c : cases) {
    const parallax::Experiment e = parallax::load_experiment_text(c.toml, c.name);
    const int reps = 20;
    const auto start = clock::now();
    double sink = 0;
    for (int i = 0; i < reps; ++i) sink += parallax::sim::predict(e).iteration_time_s;
    const double ms = std::chrono::duration<double, std::milli>(clock::now() - start).count() / reps;
    std::printf("%-40s %8.2f ms per predict (iteration %.2f s)\n", c.name, ms, sink / reps);
  }
  return 0;
}
