// The one error type of Dyad's library.
//
// Everything a user can get wrong (a malformed model, an unsupported op, a bad input file,
// an impossible budget) is reported by throwing dyad::Error with a message that names the
// tensor, node or file. Nothing in lib/ or formats/ exits the process: cmd/ catches Error at
// the boundary, prints its message as one line and maps kind() to the exit code
// (Usage -> 2, Failure -> 1). Internal invariants use DYAD_CHECK, which also throws, so a
// bug surfaces as a message rather than a crash.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace dyad {

class Error : public std::runtime_error {
 public:
  enum class Kind { Failure, Usage };
  explicit Error(const std::string& message, Kind kind = Kind::Failure)
      : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// fail("node {}: bad axis {}", name, axis) throws dyad::Error with the formatted text.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

[[noreturn]] void check_failed(const char* condition, const char* file, int line);

}  // namespace dyad

#define DYAD_CHECK(cond) \
  do {                   \
    if (!(cond)) ::dyad::check_failed(#cond, __FILE__, __LINE__); \
  } while (0)
