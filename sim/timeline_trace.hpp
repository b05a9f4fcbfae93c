// A timeline as Chrome trace-event JSON (opens in Perfetto and chrome://tracing): one track
// per pipeline rank, complete ("X") events in microseconds.
#pragma once
#include <string>
#include <vector>

#include "sim/event_sim.hpp"

namespace parallax::sim {
std::string chrome_trace(const std::vector<TimelineEvent>& events, const std::string& title);
}
