#define BOOST_TEST_MODULE csv
#include <boost/test/unit_test.hpp>

#include "models/experiment.hpp"
#include "sim/csv.hpp"

using namespace parallax;

BOOST_AUTO_TEST_CASE(quotes_commas_and_newlines) {
  const CsvTable t = parse_csv("a,b,c\n1,\"x, \"\"y\"\"\",\"two\nlines\"\r\n2,,z\n", "t.csv");
  BOOST_TEST(t.rows.size() == 2u);
  BOOST_TEST(t.rows[0].at("b") == "x, \"y\"");
  BOOST_TEST(t.rows[0].at("c") == "two\nlines");
  BOOST_TEST(t.rows[1].at("b") == "");
  BOOST_TEST(t.rows[1].at("c") == "z");
}

BOOST_AUTO_TEST_CASE(ragged_rows_are_input_errors) {
  BOOST_CHECK_THROW(parse_csv("a,b\n1,2,3\n", "t.csv"), InputError);
  BOOST_CHECK_THROW(parse_csv("a,b\n\"1,2\n", "t.csv"), InputError);
}
