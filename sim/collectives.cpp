#include "sim/collectives.hpp"

#include <algorithm>

namespace parallax::sim {

double busbw_factor(Collective c, int n) {
  if (n <= 1) return 0.0;
  switch (c) {
    case Collective::all_reduce:
      return 2.0 * (n - 1) / n;
    case Collective::all_gather:
    case Collective::reduce_scatter:
    case Collective::all_to_all:
      return static_cast<double>(n - 1) / n;
    case Collective::broadcast:
      return 1.0;
  }
  return 0.0;
}

int ring_steps(Collective c, int n) {
  if (n <= 1) return 0;
  return c == Collective::all_reduce ? 2 * (n - 1) : (n - 1);
}

GroupLink group_link(const SystemConfig& sys, int size, int stride) {
  const auto& cal = sys.calibration;
  const double intra = sys.intra_node.bandwidth_gbps * 1e9 * cal.busbw_efficiency_intra;
  GroupLink link;
  const int gpn = sys.gpus_per_node;
  const bool fits_in_node = static_cast<long long>(size) * stride <= gpn && gpn % (size * stride) == 0;
  if (size <= 1 || fits_in_node) {
    link.busbw = intra;
    link.latency = sys.intra_node.latency_us * 1e-6;
    return link;
  }
  // Spread over nodes: each node's members drive their own NICs (hierarchical rings), so the
  // group's bus bandwidth is that of its members in one node together, capped by NVLink.
  const int members_per_node = stride >= gpn ? 1 : std::max(1, std::min(size, gpn / stride));
  const double inter = sys.inter_node.bandwidth_gbps * 1e9 * cal.busbw_efficiency_inter;
  link.busbw = std::min(intra, members_per_node * inter);
  link.latency = sys.inter_node.latency_us * 1e-6;
  link.inter_node = true;
  return link;
}

double collective_time(Collective c, double bytes, int ranks, const GroupLink& link) {
  if (ranks <= 1 || bytes <= 0) return 0.0;
  return link.latency * ring_steps(c, ranks) + bytes * busbw_factor(c, ranks) / link.busbw;
}

GroupLink pair_link(const SystemConfig& sys, bool inter_node) {
  const auto& cal = sys.calibration;
  const LinkSpec& l = inter_node ? sys.inter_node : sys.intra_node;
  const double eff = inter_node ? cal.busbw_efficiency_inter : cal.busbw_efficiency_intra;
  return {l.bandwidth_gbps * 1e9 * eff, l.latency_us * 1e-6, inter_node};
}

GroupLink exchange_link(const SystemConfig& sys, bool inter_node) {
  GroupLink link = pair_link(sys, inter_node);
  const double p2p = sys.calibration.p2p_efficiency_inter;
  if (inter_node && p2p > 0) link.busbw = sys.inter_node.bandwidth_gbps * 1e9 * p2p;
  return link;
}

double p2p_time(double bytes, const SystemConfig& sys, bool inter_node) {
  const GroupLink link = exchange_link(sys, inter_node);
  return link.latency + bytes / link.busbw;
}

}  // namespace parallax::sim
