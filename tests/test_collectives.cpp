// Collective costs in nccl-tests' bus-bandwidth terms, by hand.
#define BOOST_TEST_MODULE collectives
#include <boost/test/unit_test.hpp>

#include "models/toml_reader.hpp"
#include "sim/collectives.hpp"

using namespace parallax;
using namespace parallax::sim;
using boost::test_tools::tolerance;

BOOST_AUTO_TEST_CASE(busbw_factors_are_nccl_tests) {
  BOOST_TEST(busbw_factor(Collective::all_reduce, 8) == 2.0 * 7 / 8, tolerance(1e-12));
  BOOST_TEST(busbw_factor(Collective::all_gather, 8) == 7.0 / 8, tolerance(1e-12));
  BOOST_TEST(busbw_factor(Collective::reduce_scatter, 4) == 3.0 / 4, tolerance(1e-12));
  BOOST_TEST(busbw_factor(Collective::all_reduce, 1) == 0.0);
}

BOOST_AUTO_TEST_CASE(all_reduce_time_inside_a_node) {
  SystemConfig s = system_preset("dgx-a100-80g");
  const GroupLink link = group_link(s, 8, 1);
  BOOST_TEST(!link.inter_node);
  const double busbw = 300e9 * s.calibration.busbw_efficiency_intra;
  BOOST_TEST(link.busbw == busbw, tolerance(1e-12));
  const double bytes = 1e9;
  BOOST_TEST(collective_time(Collective::all_reduce, bytes, 8, link) == 14 * 3e-6 + bytes * 1.75 / busbw,
             tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(groups_across_nodes_use_their_members_nics) {
  SystemConfig s = system_preset("dgx-a100-80g");
  s.gpus = 64;
  // DP group of 8 with tp = 8: one member per node, one NIC.
  const GroupLink one = group_link(s, 8, 8);
  BOOST_TEST(one.inter_node);
  BOOST_TEST(one.busbw == 25e9 * s.calibration.busbw_efficiency_inter, tolerance(1e-12));
  // DP group of 16 with tp = 2: four members per node drive four NICs.
  const GroupLink four = group_link(s, 16, 2);
  BOOST_TEST(four.busbw == 4 * 25e9 * s.calibration.busbw_efficiency_inter, tolerance(1e-12));
  // TP group of 4 stays inside the node.
  BOOST_TEST(!group_link(s, 4, 1).inter_node);
}

BOOST_AUTO_TEST_CASE(pipeline_sends_across_nodes_use_their_own_efficiency) {
  // DGX systems leave p2p_efficiency_inter at 0: a send runs at the collectives' efficiency.
  const SystemConfig dgx = system_preset("dgx-a100-80g");
  const double bytes = 1e8;
  BOOST_TEST(p2p_time(bytes, dgx, true) ==
                 dgx.inter_node.latency_us * 1e-6 + bytes / (25e9 * dgx.calibration.busbw_efficiency_inter),
             tolerance(1e-12));
  // Jean Zay's sends run at their fitted share of the Omni-Path links (6.25 GB/s per GPU),
  // its collectives at theirs; inside a node both use NVLink.
  const SystemConfig jz = system_preset("jean-zay-a100-80g");
  BOOST_TEST(jz.calibration.p2p_efficiency_inter > jz.calibration.busbw_efficiency_inter);
  BOOST_TEST(p2p_time(bytes, jz, true) ==
                 jz.inter_node.latency_us * 1e-6 + bytes / (6.25e9 * jz.calibration.p2p_efficiency_inter),
             tolerance(1e-12));
  BOOST_TEST(p2p_time(bytes, jz, false) ==
                 jz.intra_node.latency_us * 1e-6 + bytes / (300e9 * jz.calibration.busbw_efficiency_intra),
             tolerance(1e-12));
}
