#include "lib/eval/ctc.h"

#include <fstream>

#include "lib/ir/error.h"

namespace dyad {

std::vector<std::vector<int64_t>> ctc_greedy_decode(const Tensor& scores) {
  if (scores.rank() != 3) fail("CTC scores must be [N, T, C], got {}", shape_to_string(scores.shape()));
  const int64_t n = scores.dim(0), t = scores.dim(1), c = scores.dim(2);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t previous = -1;
    for (int64_t step = 0; step < t; ++step) {
      const int64_t base = (i * t + step) * c;
      int64_t best = 0;
      double best_score = scores.get_as_double(base);
      for (int64_t k = 1; k < c; ++k) {
        const double v = scores.get_as_double(base + k);
        if (v > best_score) best_score = v, best = k;
      }
      if (best != previous && best != 0) out[static_cast<size_t>(i)].push_back(best);
      previous = best;
    }
  }
  return out;
}

std::vector<std::string> read_ctc_charset(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open the character list", path.string());
  std::vector<std::string> chars;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    chars.push_back(line);
  }
  chars.push_back(" ");
  return chars;
}

std::string ctc_to_text(const std::vector<int64_t>& classes, const std::vector<std::string>& charset) {
  std::string text;
  for (int64_t k : classes) {
    if (k < 1 || k > static_cast<int64_t>(charset.size())) fail("CTC class {} is outside the character list", k);
    text += charset[static_cast<size_t>(k - 1)];
  }
  return text;
}

}  // namespace dyad
