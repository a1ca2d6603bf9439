#include "lib/ir/error.h"

namespace dyad {

void check_failed(const char* condition, const char* file, int line) {
  throw Error(fmt::format("internal error: check '{}' failed at {}:{}", condition, file, line));
}

}  // namespace dyad
