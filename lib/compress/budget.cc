#include "lib/compress/budget.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "lib/ir/error.h"

namespace dyad {

namespace {

[[noreturn]] void bad(const std::string& spec, const std::string& why) {
  throw Error("--budget '" + spec + "': " + why, Error::Kind::Usage);
}

double number(const std::string& spec, const std::string& text, std::string& suffix) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(v > 0) || !std::isfinite(v)) bad(spec, "'" + text + "' is not a positive number");
  suffix = end;
  return v;
}

}  // namespace

Budget parse_budget(const std::string& spec) {
  Budget b;
  b.text = spec;
  if (spec.empty()) bad(spec, "empty budget");
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) bad(spec, "'" + item + "' is not KEY=VALUE (use bits=, size=, bops= or latency=)");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    std::string suffix;
    const double v = number(spec, value, suffix);
    if (key == "bits") {
      if (!suffix.empty() || v > 32) bad(spec, "bits takes a number of bits such as 8 or 4.5");
      b.bits = v;
    } else if (key == "size") {
      if (suffix == "%") b.size_fraction = v / 100.0;
      else if (suffix == "B") b.size_bytes = v;
      else if (suffix == "KB") b.size_bytes = v * 1e3;
      else if (suffix == "MB") b.size_bytes = v * 1e6;
      else if (suffix == "GB") b.size_bytes = v * 1e9;
      else bad(spec, "size takes a percentage (25%) or bytes (3MB)");
    } else if (key == "bops") {
      if (suffix != "%") bad(spec, "bops takes a percentage of the float model's (40%)");
      b.bops_fraction = v / 100.0;
    } else if (key == "latency") {
      if (suffix != "x") bad(spec, "latency takes a factor of the float model's (0.6x)");
      b.latency_fraction = v;
    } else {
      bad(spec, "unknown constraint '" + key + "' (use bits, size, bops or latency)");
    }
  }
  return b;
}

}  // namespace dyad
