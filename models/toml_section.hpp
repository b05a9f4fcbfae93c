// Reading TOML tables with errors that name the full key: typed getters, enumerations,
// and a check that rejects keys nobody asked for. Used by the experiment and sweep readers.
#pragma once
// toml++ 3.3 asserts, in debug builds, a precondition that its own table-header parser breaks on
// a malformed header ("[=]", "[.a]", "[[[1]]]"): parse_key is entered on a character that starts
// no key, where the release build goes on to report the parse error it should (fixed upstream
// after 3.3: marzer/tomlplusplus#301). Its internal assertions are off, so that such a file is one
// line and exit 2 in every build; the sanitizers still watch the parser's memory.
#ifndef TOML_ASSERT
#define TOML_ASSERT(expr) static_assert(true)
#endif
#include <toml++/toml.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "models/experiment.hpp"

namespace parallax {

// Whether a TOML integer (64-bit) fits the int the configuration stores, symmetric about 0.
inline bool fits_int(long long v) {
  constexpr long long most = std::numeric_limits<int>::max();
  return -most <= v && v <= most;
}

// A TOML table being read: typed getters that name the full key in their errors, and a
// finish() that rejects keys nobody asked for.
class Section {
 public:
  Section(const toml::table* table, std::string prefix) : table_(table), prefix_(std::move(prefix)) {}

  std::string key(const std::string& k) const { return prefix_.empty() ? k : prefix_ + "." + k; }

  const toml::node* node(const std::string& k) {
    known_.insert(k);
    return table_ ? table_->get(k) : nullptr;
  }
  std::optional<long long> integer(const std::string& k) {
    const toml::node* n = node(k);
    if (!n) return std::nullopt;
    if (!n->is_integer()) throw InputError(key(k) + " must be an integer");
    return n->as_integer()->get();
  }
  std::optional<int> int32(const std::string& k) {
    auto v = integer(k);
    if (!v) return std::nullopt;
    if (!fits_int(*v)) throw InputError(key(k) + " = " + std::to_string(*v) + " is out of range");
    return static_cast<int>(*v);
  }
  std::optional<double> number(const std::string& k) {
    const toml::node* n = node(k);
    if (!n) return std::nullopt;
    if (n->is_integer()) return static_cast<double>(n->as_integer()->get());
    if (!n->is_floating_point()) throw InputError(key(k) + " must be a number");
    return finite(k, n->as_floating_point()->get());
  }
  std::optional<bool> boolean(const std::string& k) {
    const toml::node* n = node(k);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) throw InputError(key(k) + " must be true or false");
    return n->as_boolean()->get();
  }
  std::optional<std::string> string(const std::string& k) {
    const toml::node* n = node(k);
    if (!n) return std::nullopt;
    if (!n->is_string()) throw InputError(key(k) + " must be a string");
    return n->as_string()->get();
  }
  template <typename E>
  std::optional<E> choice(const std::string& k, std::initializer_list<std::pair<const char*, E>> options) {
    auto s = string(k);
    if (!s) return std::nullopt;
    std::string allowed;
    for (const auto& [name, value] : options) {
      if (*s == name) return value;
      allowed += (allowed.empty() ? "\"" : ", \"") + std::string(name) + "\"";
    }
    throw InputError(key(k) + " = \"" + *s + "\" is not allowed (allowed: " + allowed + ")");
  }
  // A list of values of one kind; a single value is taken as a list of one.
  template <typename T>
  std::optional<std::vector<T>> list(const std::string& k) {
    const toml::node* n = node(k);
    if (!n) return std::nullopt;
    std::vector<T> out;
    auto take = [&](const toml::node& item) {
      auto v = item.value<T>();
      if (!v || (std::is_same_v<T, long long> && !item.is_integer()))
        throw InputError(key(k) + " must hold " + kind_name<T>());
      if constexpr (std::is_same_v<T, double>) finite(k, *v);
      out.push_back(*v);
    };
    if (const toml::array* a = n->as_array()) {
      if (a->empty()) throw InputError(key(k) + " is an empty list (leave the key out for every valid value)");
      for (const auto& item : *a) take(item);
    } else {
      take(*n);
    }
    return out;
  }
  const toml::table* table(const std::string& k) {
    const toml::node* n = node(k);
    if (!n) return nullptr;
    if (!n->is_table()) throw InputError(key(k) + " must be a table");
    return n->as_table();
  }
  void finish() const {
    if (!table_) return;
    for (auto&& [k, v] : *table_) {
      std::string name(k.str());
      if (!known_.count(name)) {
        std::string allowed;
        for (const auto& n : known_) allowed += (allowed.empty() ? "" : ", ") + n;
        throw InputError("unknown key " + key(name) + " (allowed: " + allowed + ")");
      }
    }
  }

 private:
  // TOML allows inf and nan; no size, rate or efficiency is either.
  double finite(const std::string& k, double v) const {
    if (!std::isfinite(v)) {
      std::ostringstream text;
      text << v;
      throw InputError(key(k) + " = " + text.str() + " must be a finite number");
    }
    return v;
  }
  template <typename T>
  static const char* kind_name() {
    if constexpr (std::is_same_v<T, long long>)
      return "integers";
    else if constexpr (std::is_same_v<T, bool>)
      return "true/false values";
    else
      return "strings";
  }
  const toml::table* table_;
  std::string prefix_;
  std::set<std::string> known_;
};

template <typename T, typename U>
inline void set_if(T& field, const std::optional<U>& v) {
  if (v) field = static_cast<T>(*v);
}

// Keys nested deeper than this are refused before parsing: toml++ recurses once per dotted part
// (a header of 200,000 parts overflows the stack), and no experiment nests keys past 4.
constexpr int kDeepestKey = 64;

// Refuses a line whose key or table header (outside quoted text) has more than kDeepestKey parts.
inline void check_key_depth(const std::string& text, const std::string& source) {
  int line = 1, dots = 0;
  bool in_key = true;
  char quote = 0;
  for (char c : text) {
    if (c == '\n') {
      ++line;
      dots = 0;
      in_key = true;
      quote = 0;
      continue;
    }
    if (!in_key) continue;
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '=' || c == '#') {
      in_key = false;
    } else if (c == '.' && ++dots >= kDeepestKey) {
      throw InputError(source + ":" + std::to_string(line) + ": a key nested more than " + std::to_string(kDeepestKey) +
                       " deep");
    }
  }
}

inline toml::table parse_toml(const std::string& text, const std::string& source) {
  check_key_depth(text, source);
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& err) {
    std::ostringstream msg;
    msg << source << ":" << err.source().begin.line << ":" << err.source().begin.column << ": malformed TOML: ";
    for (char c : err.description()) {  // the parser quotes the input, control characters included: one line
      if (static_cast<unsigned char>(c) < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
        msg << escaped;
      } else {
        msg << c;
      }
    }
    throw InputError(msg.str());
  }
}

// The training files a table names (data, init_from, checkpoint_dir, resume_from; "synthetic"
// names none), when relative, made relative to `base` (an experiment file's folder, so that the
// experiment runs from any working directory); an empty base leaves them as they are.
void resolve_training_paths(toml::table& root, const std::filesystem::path& base);
// The experiment file's table, its training files (data, init_from, checkpoint_dir, resume_from)
// relative to the file's folder, with `--set section.key=value` overrides applied.
toml::table parse_with_overrides(const std::string& text, const std::string& source,
                                 const std::vector<std::string>& overrides);
std::string read_text_file(const std::string& path, const std::string& what);

}  // namespace parallax
