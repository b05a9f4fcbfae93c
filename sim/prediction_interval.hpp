// Prediction intervals: how far published runs of a prediction's class fell from the model.
// The classes (framework family x device, and each device alone) and their P10/P90 of validate's
// signed iteration-time errors are data, models/presets/intervals/prediction-intervals.toml,
// written by scripts/fit_intervals.py from the validation tables.
#pragma once
#include <string>
#include <vector>

namespace parallax::sim {

struct IntervalClass {
  std::string framework, device;  // "*": any
  int rows = 0;                   // validation rows it was fitted on
  double p10_pct = 0, p90_pct = 0;
};

// "published runs of nemo on H100-SXM5-80GB, 103 rows" ("any framework", "any device" for "*").
std::string interval_source(const IntervalClass& c);

struct IntervalTable {
  std::vector<IntervalClass> classes;
};

// The embedded table (InputError if it is malformed or has no "*" x "*" class).
IntervalTable interval_table();

struct PredictionInterval {
  double p10_s = 0, p90_s = 0;  // of the iteration time
  IntervalClass of;             // the class it came from
};

// The interval of a predicted iteration time under `framework` on `device`: the class of both,
// else of any framework on the device, else of all rows. An error e (predicted - published,
// over published) puts the published time at t / (1 + e), so P10 is t / (1 + P90's e).
PredictionInterval prediction_interval(const IntervalTable& table, const std::string& framework,
                                       const std::string& device, double predicted_s);

// Whether plan a's interval overlaps plan b's: the data cannot tell them apart.
inline bool overlaps(const PredictionInterval& a, const PredictionInterval& b) {
  return a.p10_s <= b.p90_s && b.p10_s <= a.p90_s;
}

}  // namespace parallax::sim
