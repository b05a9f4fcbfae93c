#include "sim/csv.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/experiment.hpp"

namespace parallax {

namespace {
// A header name without the blanks a spreadsheet may leave around it.
std::string trimmed(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}
}  // namespace

CsvTable parse_csv(const std::string& text, const std::string& source) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, field_started = false;
  int line = 1;
  // A spreadsheet's UTF-8 export may begin with a byte-order mark; it is not part of the first name.
  const size_t start = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  for (size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      record.push_back(field);
      field.clear();
      field_started = false;
      if (!(record.size() == 1 && record[0].empty())) records.push_back(record);
      record.clear();
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) throw InputError(source + ": unterminated quoted field");
  if (field_started || !record.empty()) {
    record.push_back(field);
    records.push_back(record);
  }
  if (records.empty()) throw InputError(source + ": empty CSV file");
  CsvTable table;
  for (const auto& name : records[0]) {
    table.header.push_back(trimmed(name));
    if (std::count(table.header.begin(), table.header.end(), table.header.back()) > 1)
      throw InputError(source + ": the header names column \"" + table.header.back() + "\" twice");
  }
  for (size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != table.header.size())
      throw InputError(source + ": record " + std::to_string(r + 1) + " has " + std::to_string(records[r].size()) +
                       " fields, the header has " + std::to_string(table.header.size()));
    std::map<std::string, std::string> row;
    for (size_t c = 0; c < table.header.size(); ++c) row[table.header[c]] = records[r][c];
    table.rows.push_back(std::move(row));
  }
  return table;
}

CsvTable read_csv_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path + " is a directory, not a CSV file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the CSV file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_csv(buffer.str(), path);
}

}  // namespace parallax
