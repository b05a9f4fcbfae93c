// Small formatting helpers shared by the commands.
#pragma once
#include <string>

#include "models/experiment.hpp"

namespace parallax::cli {

inline double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

}  // namespace parallax::cli
