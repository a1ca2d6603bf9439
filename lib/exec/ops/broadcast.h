// Numpy-style broadcasting loops for elementwise ops of two and three inputs.
#pragma once
#include "lib/exec/ops/op_util.h"

namespace dyad::ops {

// out[i] = op(a[ia], b[ib]) with numpy broadcasting; `out` must already have the broadcast shape.
template <typename TA, typename TB, typename TO, typename Op>
void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out.data<TO>();
  const int64_t n = out.numel();
  if (n == 0) return;
  if (a.shape() == b.shape()) {
    parallel_for(n, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = op(pa[i], pb[i]);
    });
    return;
  }
  if (b.numel() == 1 && a.numel() == n) {
    const TB vb = pb[0];
    parallel_for(n, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = op(pa[i], vb);
    });
    return;
  }
  if (a.numel() == 1 && b.numel() == n) {
    const TA va = pa[0];
    parallel_for(n, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = op(va, pb[i]);
    });
    return;
  }
  const Shape& os = out.shape();
  const int rank = static_cast<int>(os.size());
  const auto sa = broadcast_strides(a.shape(), os), sb = broadcast_strides(b.shape(), os);
  const int64_t inner = os.back(), outer = n / inner;
  const int64_t ia = sa.back(), ib = sb.back();
  parallel_for(outer, inner, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o) {
      int64_t idx = o, off_a = 0, off_b = 0;
      for (int d = rank - 2; d >= 0; --d) {
        const int64_t i = idx % os[static_cast<size_t>(d)];
        idx /= os[static_cast<size_t>(d)];
        off_a += i * sa[static_cast<size_t>(d)];
        off_b += i * sb[static_cast<size_t>(d)];
      }
      TO* dst = po + o * inner;
      for (int64_t j = 0; j < inner; ++j) dst[j] = op(pa[off_a + j * ia], pb[off_b + j * ib]);
    }
  });
}

// out[i] = op(a[ia], b[ib], c[ic]) with broadcasting (Where, Clip-like ops).
template <typename TA, typename TB, typename TC, typename TO, typename Op>
void broadcast_ternary(const Tensor& a, const Tensor& b, const Tensor& c, Tensor& out, Op op) {
  const Shape& os = out.shape();
  const int64_t n = out.numel();
  if (n == 0) return;
  const int rank = static_cast<int>(os.size());
  const auto sa = broadcast_strides(a.shape(), os), sb = broadcast_strides(b.shape(), os),
             sc = broadcast_strides(c.shape(), os);
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  const TC* pc = c.data<TC>();
  TO* po = out.data<TO>();
  const int64_t inner = rank ? os.back() : 1, outer = n / inner;
  const int64_t ia = rank ? sa.back() : 0, ib = rank ? sb.back() : 0, ic = rank ? sc.back() : 0;
  parallel_for(outer, inner, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o) {
      int64_t idx = o, oa = 0, obb = 0, oc = 0;
      for (int d = rank - 2; d >= 0; --d) {
        const int64_t i = idx % os[static_cast<size_t>(d)];
        idx /= os[static_cast<size_t>(d)];
        oa += i * sa[static_cast<size_t>(d)];
        obb += i * sb[static_cast<size_t>(d)];
        oc += i * sc[static_cast<size_t>(d)];
      }
      for (int64_t j = 0; j < inner; ++j) po[o * inner + j] = op(pa[oa + j * ia], pb[obb + j * ib], pc[oc + j * ic]);
    }
  });
}

}  // namespace dyad::ops
