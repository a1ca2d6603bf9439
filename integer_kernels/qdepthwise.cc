// Dispatch and path counting for the integer depthwise convolution.
#include "integer_kernels/qdepthwise.h"

#include <atomic>

#include "integer_kernels/qdepthwise_internal.h"

namespace dyad {

namespace {
std::atomic<int64_t> g_calls[kQIsaCount];
}  // namespace

bool qdepthwise_supported(QIsa isa, const QDepthwiseShape& s) {
  switch (isa) {
    case QIsa::Avx512Vnni: return (s.stride_w == 1 || s.stride_w == 2) && qisa_supported(isa);
    case QIsa::Avx2: return false;
    default: return true;
  }
}

void qdepthwise_conv2d(QIsa isa, const QDepthwiseShape& s, int64_t channels, const uint8_t* x, int32_t x_zero_point, const int8_t* w,
                       const QDepthwiseOutput* out, void* y) {
  if (!qdepthwise_supported(isa, s)) isa = QIsa::Reference;
  g_calls[static_cast<int>(isa)].fetch_add(1, std::memory_order_relaxed);
  if (isa == QIsa::Avx512Vnni) {
    qdepthwise_detail::qu8_qs8_dwconv_32__avx512vnni(s, channels, x, x_zero_point, w, out, y);
    return;
  }
  const int64_t in_plane = s.height * s.width, out_plane = s.out_height * s.out_width, taps = s.kernel_h * s.kernel_w;
  for (int64_t ch = 0; ch < channels; ++ch) {
    const size_t out_bytes = out[ch].output == QOutput::Int32 ? 4 : 1;
    qdepthwise_detail::qu8_qs8_dwconv__ref(s, x + ch * in_plane, x_zero_point, w + ch * taps, out[ch],
                                           static_cast<uint8_t*>(y) + static_cast<size_t>(ch * out_plane) * out_bytes);
  }
}

int64_t qdepthwise_calls(QIsa isa) { return g_calls[static_cast<int>(isa)].load(); }

}  // namespace dyad
