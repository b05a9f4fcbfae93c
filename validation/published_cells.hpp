// Reading the cells of a published-runs row as their sources write them: numbers with notes
// ("8 (inferred)"), thousands separators and approximation marks, yes/no words, the recompute
// column, and integers caught by a pattern in free text.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "models/experiment.hpp"

namespace parallax::sim::cells {

using Row = std::map<std::string, std::string>;

// No count in a table comes near 2^24 (16.8 M: GPUs, sequences, tokens of context, widths); a
// larger one is a typo, refused before products of such counts can overflow.
constexpr double kLargestCell = 1 << 24;

bool has(const std::string& s, const std::string& what);
// The leading number of a column ("8 (inferred)" is 8), thousands separators allowed ("2,304"),
// after an approximation mark if any ("~32", "≈ 32", "about 32", "around 32"), a range read as
// its midpoint ("60-65" is 62.5), a note after it allowed ("8 (inferred)", "124.1 s"); nullopt
// if blank or a word for not given ("n/a", "unknown", "-"). Throws InputError for any other
// text ("abc", "GQA-8"), when the text goes on as if the number did not end there ("124,1",
// "2 048", "2:04", "2 4", "24abc") and for a hexadecimal number ("0x7c", which C++ reads as 124).
std::optional<double> number(const Row& row, const std::string& key);
// A published measurement (a time, a rate, a memory, a peak, a size): `number`, and InputError
// when it is zero or negative, which no run measures.
std::optional<double> measure(const Row& row, const std::string& key);
// A count: `number`, `fallback` when blank; throws InputError past 2^24, for a k or M multiplier
// ("4k") and for a value that is not whole (a range "1-2", "128.5").
int integer(const Row& row, const std::string& key, int fallback = 0);
std::string text(const Row& row, const std::string& key);
// A free-text column, lower-cased, for matching.
std::string lowered(const Row& row, const std::string& key);
// `lowered`, or empty when the cell says the value is not given ("unknown", "n/a", "-"): a knob
// so marked is searched as a blank one is.
std::string given(const Row& row, const std::string& key);
// A memory column that records a run which did not fit: "OOM" in any case, with or without a
// note ("OOM (80 GB)"), or "out of memory".
bool out_of_memory(const std::string& lowered_text);
// A yes/no column read as yes: its first word is yes, y, true, on, enabled or 1 ("yes
// (inferred)", "True", "on"), or it begins with a check mark.
bool affirmative(const std::string& lowered_text);
// The recompute column: selective (Korthikanti's attention-core recomputation), full (whole
// layers: "full", a yes, Megatron's "uniform" or "block" method, or activation checkpointing
// named as such), or none.
Recompute recompute_of(const std::string& lowered_text);
// The first integer captured by `pattern` in lower-cased text, if any.
std::optional<int> find_int(const std::string& text, const std::string& pattern);

}  // namespace parallax::sim::cells
