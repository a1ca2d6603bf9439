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
  int64_t samples = 0;
};

// Runs both models on the first calibration batches holding options.validation_samples samples.
Validation validate(const Model& prepared, const IntegerEmitResult& emitted, const CompressOptions& options);

}  // namespace dyad
