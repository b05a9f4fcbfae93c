#include "models/presets.hpp"

#include "models/experiment.hpp"

namespace parallax {

namespace {
const std::vector<EmbeddedPreset>& table(PresetKind kind) {
  switch (kind) {
    case PresetKind::model:
      return presets_data::models();
    case PresetKind::system:
      return presets_data::systems();
    case PresetKind::device:
      return presets_data::devices();
    case PresetKind::intervals:
      return presets_data::intervals();
    case PresetKind::framework:
      return presets_data::frameworks();
  }
  return presets_data::models();
}
}  // namespace

std::vector<std::string> preset_names(PresetKind kind) {
  std::vector<std::string> names;
  for (const auto& p : table(kind)) names.emplace_back(p.name);
  return names;
}

const char* preset_text(PresetKind kind, const std::string& name, const std::string& key) {
  for (const auto& p : table(kind))
    if (name == p.name) return p.toml;
  std::string allowed;
  for (const auto& n : preset_names(kind)) allowed += (allowed.empty() ? "" : ", ") + n;
  throw InputError(key + " = \"" + name + "\" is not a known preset (allowed: " + allowed + ")");
}

}  // namespace parallax
