// CTC greedy decoding, as PaddleOCR's CTCLabelDecode does for text recognition: the best class at
// each time step, repeats merged, blanks (class 0) dropped.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "lib/ir/tensor.h"

namespace dyad {

// scores: [N, T, C] (probabilities or logits, any float type). One class sequence per sample;
// ties go to the lowest class index.
std::vector<std::vector<int64_t>> ctc_greedy_decode(const Tensor& scores);

// PaddleOCR's dictionary file (one character per line): class i >= 1 is line i - 1, and the
// class after the last line is a space (use_space_char).
std::vector<std::string> read_ctc_charset(const std::filesystem::path& path);
std::string ctc_to_text(const std::vector<int64_t>& classes, const std::vector<std::string>& charset);

}  // namespace dyad
