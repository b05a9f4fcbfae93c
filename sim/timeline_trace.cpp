#include "sim/timeline_trace.hpp"

#include <nlohmann/json.hpp>
#include <set>

namespace parallax::sim {

std::string chrome_trace(const std::vector<TimelineEvent>& events, const std::string& title) {
  using nlohmann::json;
  json trace = json::array();
  trace.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 0}, {"args", {{"name", title}}}});
  std::set<int> ranks;
  for (const auto& e : events) ranks.insert(e.rank);
  for (int r : ranks)
    trace.push_back({{"name", "thread_name"},
                     {"ph", "M"},
                     {"pid", 0},
                     {"tid", r},
                     {"args", {{"name", "pipeline rank " + std::to_string(r)}}}});
  for (const auto& e : events) {
    std::string name = e.kind;
    if (e.microbatch >= 0)
      name = (e.kind == "forward" ? "F" : e.kind == "backward" ? "B" : e.kind + " ") + std::to_string(e.microbatch);
    trace.push_back({{"name", name},
                     {"cat", e.kind},
                     {"ph", "X"},
                     {"pid", 0},
                     {"tid", e.rank},
                     {"ts", e.start * 1e6},
                     {"dur", e.duration * 1e6},
                     {"args", {{"stage", e.stage}, {"chunk", e.chunk}, {"microbatch", e.microbatch}}}});
  }
  return json{{"traceEvents", trace}, {"displayTimeUnit", "ms"}}.dump();
}

}  // namespace parallax::sim
