// qu8_qs8_dwconv_32__avx512vnni: integer depthwise convolution for width strides 1 and 2.
//
// Each input row is first widened once to int16 with the zero point subtracted and zeros in
// the padding, R[t] = x[t - pw] - z. Two horizontally adjacent taps (kw, kw + 1) then form one
// vpdpwssd: the 32-bit lane j of a load from R + a holds the pair (R[a + 2j], R[a + 2j + 1]),
// which is exactly what output 2j (stride 1, from a = kw) or output j (stride 2, from
// a = 2*ow0 + kw) needs from the two taps; at stride 1 a second load from a + 1 serves the odd
// outputs. An odd last tap (or any tap when dilated) pairs with a zero weight. Products of
// int16 values below 2^8 and 2^7 are exact and the int32 sums wrap like the reference's. The
// output stage is the shared requantize16, and the even/odd halves are interleaved on the way out.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "integer_kernels/qdepthwise_internal.h"
#include "integer_kernels/requantize_avx512.h"

namespace dyad::qdepthwise_detail {

namespace {

// One vpdpwssd step: the pair's offset in a widened row (for output 0) and the two weights.
struct TapPair {
  int64_t kh, offset;
  int32_t weights;  // (w_first & 0xFFFF) | w_second << 16
};

std::vector<TapPair> tap_pairs(const QDepthwiseShape& s, const int8_t* w) {
  std::vector<TapPair> pairs;
  for (int64_t kh = 0; kh < s.kernel_h; ++kh)
    for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
      const int32_t first = w[kh * s.kernel_w + kw];
      // The next tap is the adjacent element only without dilation.
      const bool pair = s.dilation_w == 1 && kw + 1 < s.kernel_w;
      const int32_t second = pair ? w[kh * s.kernel_w + kw + 1] : 0;
      pairs.push_back({kh, kw * s.dilation_w, static_cast<int32_t>((static_cast<uint32_t>(first) & 0xFFFFu) | (static_cast<uint32_t>(second) << 16))});
      if (pair) ++kw;
    }
  return pairs;
}

// Stores sixteen finished accumulators (bias included) at y + at, `count` of them.
inline void store16(const QDepthwiseOutput& out, const Requantizer& requantizer, __m512i acc, void* y, int64_t at, int64_t count) {
  const __mmask16 mask = count >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << count) - 1);
  if (out.output == QOutput::Int32) {
    _mm512_mask_storeu_epi32(static_cast<int32_t*>(y) + at, mask, acc);
    return;
  }
  const __m512i q = requantize16(acc, requantizer);
  // uint8 and int8 store the same low bytes (in range already), narrowed in a register:
  // vpmovdb to memory is slow on Zen 4.
  _mm_mask_storeu_epi8(static_cast<uint8_t*>(y) + at, mask, low_bytes16(q));
}

// Thirty-two outputs from the even ones (lanes 0, 2, ...) and the odd ones, `count` of them.
inline void store32(const QDepthwiseOutput& out, const Requantizer& requantizer, __m512i even, __m512i odd, void* y, int64_t at, int64_t count) {
  const __m512i lo = _mm512_permutex2var_epi32(even, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), odd);
  const __m512i hi = _mm512_permutex2var_epi32(even, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), odd);
  store16(out, requantizer, lo, y, at, count);
  if (count > 16) store16(out, requantizer, hi, y, at + 16, count - 16);
}

void plane(const QDepthwiseShape& s, const uint8_t* x, int32_t x_zero_point, const int8_t* w, const QDepthwiseOutput& out, void* y,
           std::vector<int16_t>& widened) {
  const int64_t sw = s.stride_w, per_chunk = sw == 1 ? 32 : 16, chunks = (s.out_width + per_chunk - 1) / per_chunk;
  // Widened rows: long enough for every load of every chunk, the padding columns 0.
  const int64_t row_length = chunks * 32 + (s.kernel_w - 1) * s.dilation_w + 2;
  widened.assign(static_cast<size_t>(s.height * row_length), 0);
  for (int64_t ih = 0; ih < s.height; ++ih) {
    int16_t* r = widened.data() + ih * row_length + s.pad_w;
    const uint8_t* in = x + ih * s.width;
    for (int64_t iw = 0; iw < s.width; ++iw) r[iw] = static_cast<int16_t>(in[iw] - x_zero_point);
  }
  const std::vector<TapPair> pairs = tap_pairs(s, w);
  const Requantizer requantizer = make_requantizer(out.multiplier, out.zero_point, out.qmin, out.qmax);
  const int16_t* rows = widened.data();
  for (int64_t oh = 0; oh < s.out_height; ++oh)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t ow0 = c * per_chunk;
      __m512i even = _mm512_set1_epi32(out.bias), odd = _mm512_setzero_si512();
      for (const TapPair& p : pairs) {
        const int64_t ih = oh * s.stride_h - s.pad_h + p.kh * s.dilation_h;
        if (ih < 0 || ih >= s.height) continue;
        const int16_t* at = rows + ih * row_length + ow0 * sw + p.offset;
        const __m512i weights = _mm512_set1_epi32(p.weights);
        even = _mm512_dpwssd_epi32(even, _mm512_loadu_si512(at), weights);
        if (sw == 1) odd = _mm512_dpwssd_epi32(odd, _mm512_loadu_si512(at + 1), weights);
      }
      const int64_t count = std::min<int64_t>(per_chunk, s.out_width - ow0), base = oh * s.out_width + ow0;
      if (sw == 1) store32(out, requantizer, even, _mm512_add_epi32(odd, _mm512_set1_epi32(out.bias)), y, base, count);
      else store16(out, requantizer, even, y, base, count);
    }
}

}  // namespace

void qu8_qs8_dwconv_32__avx512vnni(const QDepthwiseShape& s, int64_t channels, const uint8_t* x, int32_t x_zero_point,
                                   const int8_t* w, const QDepthwiseOutput* out, void* y) {
  thread_local std::vector<int16_t> widened;
  const int64_t in_plane = s.height * s.width, out_plane = s.out_height * s.out_width, taps = s.kernel_h * s.kernel_w;
  for (int64_t ch = 0; ch < channels; ++ch) {
    const size_t out_bytes = out[ch].output == QOutput::Int32 ? 4 : 1;
    plane(s, x + ch * in_plane, x_zero_point, w + ch * taps, out[ch], static_cast<uint8_t*>(y) + static_cast<size_t>(ch * out_plane) * out_bytes,
          widened);
  }
}

}  // namespace dyad::qdepthwise_detail
