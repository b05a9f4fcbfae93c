// A small RFC 4180 reader: quoted fields, doubled quotes, commas and newlines inside quotes.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace parallax {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  // For each row, why it cannot be read as written, or empty: a record with more or fewer fields
  // than the header keeps only the cells that line up with it, and this names the mismatch.
  std::vector<std::string> problems;
};

// Throws InputError naming the file for an unterminated quote, an empty file or a header naming
// a column twice; a record whose width differs from the header's is kept with its problem.
// Text that is not UTF-8 is read as Windows-1252 (a spreadsheet's CSV export) and re-encoded.
CsvTable read_csv_file(const std::string& path);
CsvTable parse_csv(const std::string& text, const std::string& source);

}  // namespace parallax
