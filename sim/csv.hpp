// A small RFC 4180 reader: quoted fields, doubled quotes, commas and newlines inside quotes.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace parallax {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
};

// Throws InputError naming the file and line when a row's width differs from the header's.
// Text that is not UTF-8 is read as Windows-1252 (a spreadsheet's CSV export) and re-encoded.
CsvTable read_csv_file(const std::string& path);
CsvTable parse_csv(const std::string& text, const std::string& source);

}  // namespace parallax
