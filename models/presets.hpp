// Model, system, device and framework presets and the prediction intervals: TOML files under
// models/presets/, embedded at build time.
#pragma once
#include <string>
#include <vector>

namespace parallax {

struct EmbeddedPreset {
  const char* name;
  const char* toml;
};

namespace presets_data {
const std::vector<EmbeddedPreset>& models();
const std::vector<EmbeddedPreset>& systems();
const std::vector<EmbeddedPreset>& devices();
const std::vector<EmbeddedPreset>& intervals();
const std::vector<EmbeddedPreset>& frameworks();
}  // namespace presets_data

enum class PresetKind { model, system, device, intervals, framework };

// The TOML text of a preset; throws InputError naming the key and the presets available.
const char* preset_text(PresetKind kind, const std::string& name, const std::string& key);
std::vector<std::string> preset_names(PresetKind kind);

}  // namespace parallax
