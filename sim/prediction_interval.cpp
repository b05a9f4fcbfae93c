#include "sim/prediction_interval.hpp"

#include "models/presets.hpp"
#include "models/toml_section.hpp"

namespace parallax::sim {

IntervalTable interval_table() {
  const std::string name = "prediction-intervals";
  const toml::table root = parse_toml(preset_text(PresetKind::intervals, name, "intervals"), name + ".toml");
  IntervalTable table;
  const toml::array* classes = root["class"].as_array();
  if (!classes) throw InputError(name + ".toml: no [[class]] table");
  for (const toml::node& node : *classes) {
    const toml::table* t = node.as_table();
    if (!t) throw InputError(name + ".toml: a [[class]] entry is not a table");
    IntervalClass c;
    c.framework = (*t)["framework"].value_or(std::string());
    c.device = (*t)["device"].value_or(std::string());
    c.rows = static_cast<int>((*t)["rows"].value_or(0LL));
    c.p10_pct = (*t)["p10_pct"].value_or(0.0);
    c.p90_pct = (*t)["p90_pct"].value_or(0.0);
    if (c.framework.empty() || c.device.empty() || c.rows < 1 || !(c.p10_pct <= c.p90_pct) || c.p10_pct <= -100)
      throw InputError(name + ".toml: class " + c.framework + " x " + c.device +
                       " needs framework, device, rows > 0 and -100 < p10_pct <= p90_pct");
    table.classes.push_back(c);
  }
  bool fallback = false;
  for (const auto& c : table.classes) fallback = fallback || (c.framework == "*" && c.device == "*");
  if (!fallback) throw InputError(name + ".toml: no class for framework \"*\" and device \"*\"");
  return table;
}

std::string interval_source(const IntervalClass& c) {
  return "published runs of " + (c.framework == "*" ? std::string("any framework") : c.framework) + " on " +
         (c.device == "*" ? std::string("any device") : c.device) + ", " + std::to_string(c.rows) + " rows";
}

PredictionInterval prediction_interval(const IntervalTable& table, const std::string& framework,
                                       const std::string& device, double predicted_s) {
  const IntervalClass* chosen = nullptr;
  const std::pair<std::string, std::string> keys[] = {{framework, device}, {"*", device}, {"*", "*"}};
  for (const auto& [f, d] : keys) {
    for (const auto& c : table.classes)
      if (c.framework == f && c.device == d) {
        chosen = &c;
        break;
      }
    if (chosen) break;
  }
  if (!chosen) throw std::logic_error("prediction_interval: the table has no fallback class");
  return {predicted_s / (1 + chosen->p90_pct / 100), predicted_s / (1 + chosen->p10_pct / 100), *chosen};
}

}  // namespace parallax::sim
