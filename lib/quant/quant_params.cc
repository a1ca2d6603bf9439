#include "lib/quant/quant_params.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dyad {

int32_t ActivationQuant::quantize(float x) const {
  const float q = x / scale;
  return static_cast<int32_t>(std::clamp(std::nearbyint(static_cast<double>(q)) + zero_point, 0.0, static_cast<double>(qmax)));
}

ActivationQuant uint8_quant(FloatRange range, int32_t levels) {
  const float lo = std::min(range.min, 0.0f), hi = std::max(range.max, 0.0f);
  ActivationQuant q;
  q.qmax = levels - 1;
  if (!(hi > lo)) return q;  // a constant-zero tensor: scale 1, zero point 0
  const float top = static_cast<float>(q.qmax);
  q.scale = (hi - lo) / top;
  q.zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(-lo / q.scale), 0.0f, top));
  return q;
}

WeightQuant quantize_weights_per_channel(const Tensor& w, int axis) {
  if (w.dtype() != DType::Float32) fail("weights must be float, got {}", dtype_name(w.dtype()));
  const int64_t channels = w.dim(axis);
  int64_t inner = 1;
  for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  WeightQuant out;
  out.scales.assign(static_cast<size_t>(channels), 0.0f);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t c = (i / inner) % channels;
    out.scales[static_cast<size_t>(c)] = std::max(out.scales[static_cast<size_t>(c)], std::fabs(w.data<float>()[i]));
  }
  for (auto& s : out.scales) s = s > 0 ? s / 127.0f : 1.0f;
  out.values = Tensor(DType::Int8, w.shape());
  double signal = 0, noise = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t c = (i / inner) % channels;
    const float v = w.data<float>()[i], s = out.scales[static_cast<size_t>(c)];
    const float q = std::clamp(std::nearbyint(v / s), -127.0f, 127.0f);
    out.values.data<int8_t>()[i] = static_cast<int8_t>(q);
    signal += static_cast<double>(v) * v;
    noise += (static_cast<double>(v) - static_cast<double>(q) * s) * (static_cast<double>(v) - static_cast<double>(q) * s);
  }
  out.sqnr_db = noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
  return out;
}

}  // namespace dyad
