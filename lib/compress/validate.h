// Measuring a quantized model against its float original on calibration samples: the SQNR of
// every quantized layer's output (dequantized) and of the graph outputs.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "lib/compress/compress.h"

namespace dyad {

struct Validation {
  std::vector<double> layer_sqnr_db;  // per IntegerEmitResult::layers entry
  double output_sqnr_db = 0;          // over all graph outputs together
  // Rows of the outputs (last axis of 2+ values: class scores, per-step CTC scores) and how many
  // of them keep the float model's largest entry: the decision a classifier or decoder makes.
  int64_t decisions = 0, decisions_kept = 0;
  int64_t samples = 0;
};

// The candidate closer to float: clearly fewer flipped decisions (by more than chance explains),
// else the higher output SQNR.
bool closer_to_float(const Validation& a, const Validation& b);

// Runs both models on the first calibration batches holding options.validation_samples samples
// and at least kValidationOutputValues output values (all batches if they hold fewer).
inline constexpr int64_t kValidationOutputValues = int64_t{1} << 16;
Validation validate(const Model& prepared, const IntegerEmitResult& emitted, const CompressOptions& options);

}  // namespace dyad
