#define BOOST_TEST_MODULE csv
#include <boost/test/unit_test.hpp>

#include "models/experiment.hpp"
#include "validation/csv.hpp"

using namespace parallax;

BOOST_AUTO_TEST_CASE(quotes_commas_and_newlines) {
  const CsvTable t = parse_csv("a,b,c\n1,\"x, \"\"y\"\"\",\"two\nlines\"\r\n2,,z\n", "t.csv");
  BOOST_TEST(t.rows.size() == 2u);
  BOOST_TEST(t.rows[0].at("b") == "x, \"y\"");
  BOOST_TEST(t.rows[0].at("c") == "two\nlines");
  BOOST_TEST(t.rows[1].at("b") == "");
  BOOST_TEST(t.rows[1].at("c") == "z");
}

BOOST_AUTO_TEST_CASE(a_ragged_record_keeps_its_problem_and_the_table_stays) {
  // A record wider or narrower than the header is not guessed at, but it no longer stops the
  // whole table: the cells that line up are kept and the row carries its problem.
  const CsvTable t = parse_csv("a,b\n1,2,3\n4,5\n6\n", "t.csv");
  BOOST_TEST_REQUIRE(t.rows.size() == 3u);
  BOOST_TEST(t.problems.at(0) == "record 2 has 3 fields, the header has 2");
  BOOST_TEST(t.rows.at(0).at("a") == "1");
  BOOST_TEST(t.problems.at(1).empty());
  BOOST_TEST(t.rows.at(1).at("b") == "5");
  BOOST_TEST(t.problems.at(2) == "record 4 has 1 fields, the header has 2");
  BOOST_TEST(!t.rows.at(2).count("b"));
  // An unterminated quote leaves no way to tell where the rest of the table starts.
  BOOST_CHECK_THROW(parse_csv("a,b\n\"1,2\n", "t.csv"), InputError);
}

BOOST_AUTO_TEST_CASE(a_spreadsheet_export_reads_as_the_same_table) {
  // A UTF-8 byte-order mark and blanks around header names, as spreadsheets write them.
  const CsvTable t = parse_csv("\xEF\xBB\xBFrow_id, gpu ,tp\r\n7,H100,8\r\n", "t.csv");
  BOOST_TEST(t.header == (std::vector<std::string>{"row_id", "gpu", "tp"}), boost::test_tools::per_element());
  BOOST_TEST(t.rows.at(0).at("row_id") == "7");
  BOOST_TEST(t.rows.at(0).at("gpu") == "H100");
  // A column named twice would leave one of its cells unread.
  BOOST_CHECK_THROW(parse_csv("tp,pp,tp\n1,2,3\n", "t.csv"), InputError);
}

BOOST_AUTO_TEST_CASE(a_windows_1252_export_is_read_as_utf8) {
  // Not UTF-8: an en dash (0x96) and a Latin-1 letter (0xE8) as Excel saves them on Windows.
  const CsvTable t = parse_csv(
      "model,mem\nmod\xE8le,60\x96"
      "65\n",
      "t.csv");
  BOOST_TEST(t.rows.at(0).at("model") == "mod\u00E8le");
  BOOST_TEST(t.rows.at(0).at("mem") == "60\u201365");
  // UTF-8 text is left as it is, four-byte characters included.
  const CsvTable u = parse_csv("model\nmod\u00E8le \U0001F680\n", "t.csv");
  BOOST_TEST(u.rows.at(0).at("model") == "mod\u00E8le \U0001F680");
}
