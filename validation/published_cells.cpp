#include "validation/published_cells.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>
#include <string_view>

namespace parallax::sim::cells {

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

namespace {
// Words a source writes for a value it does not give, read as a blank cell ("nan" is how pandas
// writes a missing value).
bool says_not_given(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::regex words(R"(^\s*(n/?a|nan|unknown|not (given|reported|published)|-|–|—|\?)?\s*(\(.*\))?\s*$)");
  return std::regex_match(text, words);
}
std::optional<double> not_given(const std::string& key, const std::string& text) {
  if (says_not_given(text)) return std::nullopt;
  // Text that holds a number it does not begin with ("GQA-8", "TP=4") is not read as blank:
  // that would predict another model or plan than the row's.
  const bool holds_digit = std::ranges::any_of(text, [](unsigned char c) { return std::isdigit(c); });
  throw InputError("column " + key + " = \"" + text + "\"" +
                   (holds_digit ? " does not begin with its count" : " is not a number") +
                   " (leave it blank, n/a or unknown if not given)");
}
InputError not_one_number(const std::string& key, const std::string& text) {
  return InputError("column " + key + " = \"" + text +
                    "\" is not one number as written (a note follows a blank or goes in parentheses)");
}
// What may follow a number without changing it: nothing, a percent sign, or a note that
// begins after a blank or a parenthesis and does not begin with a digit.
bool is_note(std::string::const_iterator from, std::string::const_iterator to) {
  static const std::regex note(R"(^(\s*[%)]?\s*|\s*[(\[;].*|\s+[^0-9\s].*)$)");
  return std::regex_match(from, to, note);
}
// A k or M multiplier ("4k"), left for `integer` to refuse with its own reason.
const std::regex multiplier(R"(^[kKmM]([^a-zA-Z]|$))");
}  // namespace

std::optional<double> number(const Row& row, const std::string& key) {
  auto it = row.find(key);
  if (it == row.end() || it->second.empty()) return std::nullopt;
  static const std::regex grouped(R"(^\s*[1-9]\d{0,2}(,\d{3})+(?![\d,]))");
  static const std::regex approximately(R"(^\s*(~|≈|about\b|around\b|approx(\.|imately\b)?|ca\.)\s*)",
                                        std::regex::icase);
  std::string value = std::regex_replace(it->second, approximately, "", std::regex_constants::format_first_only);
  if (std::smatch m; std::regex_search(value, m, grouped)) {
    std::string digits = m.str();
    std::erase(digits, ',');
    value = digits + m.suffix().str();
  }
  static const std::regex hexadecimal(R"(^\s*[+-]?0[xX])");
  if (std::regex_search(value, hexadecimal))
    throw InputError("column " + key + " = \"" + it->second + "\" is not a decimal number");
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {  // not a number, or one out of a double's range
    return not_given(key, it->second);
  }
  if (used == 0 || !std::isfinite(v)) return not_given(key, it->second);
  const auto rest = value.cbegin() + static_cast<std::ptrdiff_t>(used);
  // What follows the number must not change it: a decimal comma or ungrouped digits ("124,1"),
  // digit groups split by a blank ("2 048", also a no-break or thin space) or a clock time
  // ("2:04") is refused, not cut short.
  static const std::regex continued("^(,\\d|(\\s|\u00A0|\u202F|\u2009)\\d{3}(?!\\d)|:\\d)");
  if (std::regex_search(rest, value.cend(), continued))
    throw InputError("column " + key + " = \"" + it->second +
                     "\" is not one number as written; write it with a decimal point and no separators");
  // A range ("60-65", "60–65", "60 to 65") is read as its midpoint.
  static const std::regex range_end(R"(^\s*(-|–|—|to\b)\s*([0-9]{1,9}(\.[0-9]+)?|\.[0-9]+))");
  std::smatch range;
  if (v >= 0 && std::regex_search(rest, value.cend(), range, range_end) && std::stod(range[2].str()) >= v) {
    if (!is_note(range.suffix().first, value.cend())) throw not_one_number(key, it->second);
    return (v + std::stod(range[2].str())) / 2;
  }
  // A note may follow ("8 (inferred)", "45 %", "8 per node"); more digits or letters run into
  // the number ("24abc", "2 4") make it another value than the one read.
  if (!is_note(rest, value.cend()) && !std::regex_search(rest, value.cend(), multiplier))
    throw not_one_number(key, it->second);
  return v;
}
std::optional<double> measure(const Row& row, const std::string& key) {
  const auto v = number(row, key);
  if (v && *v <= 0) throw InputError("column " + key + " = \"" + row.at(key) + "\" is not a positive measurement");
  return v;
}
int integer(const Row& row, const std::string& key, int fallback) {
  auto v = number(row, key);
  if (v && std::fabs(*v) > kLargestCell)
    throw InputError("column " + key + " = \"" + row.at(key) + "\" is out of range (at most 2^24)");
  // "4k" or "2M" is not the count 4 or 2, and k may mean 1000 or 1024 (a 32k vocabulary is
  // 32,000 tokens for Llama 2 and 32,768 for Mistral): refused rather than guessed.
  static const std::regex multiplied(R"(^[^a-zA-Z]*\d[kKmM]([^a-zA-Z]|$))");
  if (v && std::regex_search(row.at(key), multiplied))
    throw InputError("column " + key + " = \"" + row.at(key) + "\" has a k or M multiplier; write the whole count");
  if (v && std::fabs(*v - std::round(*v)) > 1e-9)
    throw InputError("column " + key + " = \"" + row.at(key) + "\" is not a whole count");
  return v ? static_cast<int>(std::lround(*v)) : fallback;
}
std::string text(const Row& row, const std::string& key) {
  auto it = row.find(key);
  return it == row.end() ? std::string() : it->second;
}
std::string lowered(const Row& row, const std::string& key) {
  std::string s = text(row, key);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string given(const Row& row, const std::string& key) {
  std::string s = lowered(row, key);
  return says_not_given(s) ? std::string() : s;
}

namespace {
// The text after its leading blanks.
std::string_view unindented(const std::string& s) {
  const auto start = s.find_first_not_of(" \t");
  return start == std::string::npos ? std::string_view() : std::string_view(s).substr(start);
}
}  // namespace

bool out_of_memory(const std::string& lowered_text) {
  const std::string_view t = unindented(lowered_text);
  return t.starts_with("oom") || t.starts_with("out of memory");
}

bool affirmative(const std::string& lowered_text) {
  const std::string_view t = unindented(lowered_text);
  const std::string_view word = t.substr(0, t.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789"));
  return word == "yes" || word == "y" || word == "true" || word == "on" || word == "enabled" || word == "1" ||
         t.starts_with("✓") || t.starts_with("✔");
}

Recompute recompute_of(const std::string& lowered_text) {
  if (lowered_text.starts_with("no") || lowered_text.starts_with("false") || lowered_text.starts_with("off"))
    return Recompute::none;
  if (has(lowered_text, "selective")) return Recompute::selective;
  if (lowered_text.starts_with("full") || affirmative(lowered_text) || lowered_text.starts_with("uniform") ||
      lowered_text.starts_with("block") || has(lowered_text, "checkpoint"))
    return Recompute::full;
  return Recompute::none;
}

std::optional<int> find_int(const std::string& text, const std::string& pattern) {
  std::smatch m;
  const std::regex re(pattern);
  if (!std::regex_search(text, m, re) || m[1].length() > 6) return std::nullopt;
  return std::stoi(m[1].str());
}

}  // namespace parallax::sim::cells
