// Scales and zero points: uint8 activations (asymmetric, per tensor) and int8 weights
// (symmetric, restricted to [-127, 127], per output channel). Real zero is always exactly
// representable: the activation range is widened to contain 0 and the zero point is an integer.
#pragma once
#include <vector>

#include "lib/calib/observer.h"
#include "lib/ir/tensor.h"

namespace dyad {

struct ActivationQuant {
  float scale = 1.0f;
  int32_t zero_point = 0;  // uint8
  int32_t qmax = 255;      // 255 for uint8; 2^b - 1 for a b-bit table index (int32)
  int32_t quantize(float x) const;  // round half to even, saturate to [0, qmax], as QuantizeLinear
};

// `levels` values from 0 to levels - 1: 256 for uint8.
ActivationQuant uint8_quant(FloatRange range, int32_t levels = 256);

// Per-channel int8 weights along axis `axis`: q = round(w / s[c]), s[c] = max|w[c]| / 127.
struct WeightQuant {
  std::vector<float> scales;
  Tensor values;  // int8, same shape as the float weights
  double sqnr_db = 0;  // sum w^2 / sum (w - s q)^2 over all weights, in dB (infinite if exact)
};
WeightQuant quantize_weights_per_channel(const Tensor& w, int axis);

}  // namespace dyad
