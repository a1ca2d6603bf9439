// Matrix products: Gemm, MatMul (batched, broadcasting), MatMulInteger, QLinearMatMul.
#include <algorithm>
#include <cmath>
#include <vector>

#include "integer_kernels/qgemm.h"
#include "lib/exec/gemm.h"
#include "lib/exec/sgemm_tile.h"
#include "lib/exec/ops/node_cache.h"
#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/quant_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

void op_gemm(KernelContext& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  if (a.rank() != 2 || b.rank() != 2) c.fail("A and B must be 2-D, got {} and {}", shape_to_string(a.shape()), shape_to_string(b.shape()));
  const bool ta = c.node.get_int("transA", 0), tb = c.node.get_int("transB", 0);
  const int64_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1);
  const int64_t kb = tb ? b.dim(1) : b.dim(0), n = tb ? b.dim(0) : b.dim(1);
  if (k != kb) c.fail("inner dimensions differ: {} and {}", k, kb);
  const float alpha = c.node.get_float("alpha", 1.0f), beta = c.node.get_float("beta", 1.0f);
  Tensor y(a.dtype(), {m, n});
  dispatch_float(c, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T beta_used = 0;
    if (c.has(2) && beta != 0.0f) {  // broadcast C into Y, then accumulate on top
      const Tensor& cc = c.in(2);
      const auto st = broadcast_strides(cc.shape(), {m, n});
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) y.data<T>()[i * n + j] = cc.data<T>()[i * st[0] + j * st[1]];
      beta_used = static_cast<T>(beta);
    }
    gemm<T>(ta, tb, m, n, k, static_cast<T>(alpha), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), beta_used,
            y.data<T>(), n);
  });
  c.outputs[0] = std::move(y);
}

// Shapes of a batched MatMul: output shape and, per output batch index, the batch offsets of A
// and B (numpy broadcasting over the leading dimensions, with 1-D promotion).
struct MatMulPlan {
  Shape out_shape;
  int64_t m = 0, n = 0, k = 0, batch = 1;
  std::vector<int64_t> a_offset, b_offset;  // in elements
};

MatMulPlan plan_matmul(const KernelContext& c, const Shape& sa_in, const Shape& sb_in) {
  Shape sa = sa_in, sb = sb_in;
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (sa.empty() || sb.empty()) c.fail("MatMul inputs must have rank >= 1");
  if (a_vec) sa.insert(sa.begin(), 1);
  if (b_vec) sb.push_back(1);
  MatMulPlan p;
  p.m = sa[sa.size() - 2];
  p.k = sa.back();
  p.n = sb.back();
  if (sb[sb.size() - 2] != p.k)
    c.fail("inner dimensions differ: {} and {}", shape_to_string(sa_in), shape_to_string(sb_in));
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape batch = broadcast_shapes(c, ba, bb);
  p.batch = shape_numel(batch);
  const auto sta = broadcast_strides(ba, batch), stb = broadcast_strides(bb, batch);
  p.a_offset.resize(static_cast<size_t>(p.batch));
  p.b_offset.resize(static_cast<size_t>(p.batch));
  for (int64_t i = 0; i < p.batch; ++i) {
    int64_t idx = i, oa = 0, ob = 0;
    for (size_t d = batch.size(); d-- > 0;) {
      const int64_t j = idx % batch[d];
      idx /= batch[d];
      oa += j * sta[d];
      ob += j * stb[d];
    }
    p.a_offset[static_cast<size_t>(i)] = oa * p.m * p.k;
    p.b_offset[static_cast<size_t>(i)] = ob * p.k * p.n;
  }
  p.out_shape = batch;
  if (!a_vec) p.out_shape.push_back(p.m);
  if (!b_vec) p.out_shape.push_back(p.n);
  return p;
}

void op_matmul(KernelContext& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  const MatMulPlan p = plan_matmul(c, a.shape(), b.shape());
  Tensor y = Tensor::uninitialized(a.dtype(), p.out_shape);
  if (const SgemmTileFn tile = a.dtype() == DType::Float32 ? sgemm_tile_best() : nullptr; tile && p.k > 0) {
    // Register-tiled kernel; work is split over (batch, 64-row block) and each item packs just
    // its own rows of A into a per-thread buffer.
    const int64_t block = 64, blocks = (p.m + block - 1) / block;
    parallel_for(p.batch * blocks, block * p.n * p.k, [&](int64_t first, int64_t end) {
      for (int64_t item = first; item < end; ++item) {
        const int64_t i = item / blocks, m0 = (item % blocks) * block, rows = std::min(block, p.m - m0);
        const float* a_rows = a.data<float>() + p.a_offset[static_cast<size_t>(i)] + m0 * p.k;
        const std::vector<float> packed = sgemm_pack_a(a_rows, rows, p.k, p.k);
        tile(packed.data(), rows, p.k, b.data<float>() + p.b_offset[static_cast<size_t>(i)], p.n, 0, p.n,
             y.data<float>() + i * p.m * p.n + m0 * p.n, p.n, nullptr);
      }
    });
    c.outputs[0] = std::move(y);
    return;
  }
  dispatch_float(c, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Many small products (attention heads): one thread each; few large ones: Eigen threads.
    const bool per_batch_threads = p.batch > 1 && p.m * p.n * p.k < (int64_t{1} << 20);
    auto one = [&](int64_t i) {
      gemm<T>(false, false, p.m, p.n, p.k, T(1), a.data<T>() + p.a_offset[static_cast<size_t>(i)], p.k,
              b.data<T>() + p.b_offset[static_cast<size_t>(i)], p.n, T(0), y.data<T>() + i * p.m * p.n, p.n);
    };
    if (per_batch_threads) {
      parallel_for(p.batch, p.m * p.n * p.k, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) one(i);
      });
    } else {
      for (int64_t i = 0; i < p.batch; ++i) one(i);
    }
  });
  c.outputs[0] = std::move(y);
}

// Integer product with zero points: acc[m][n] = sum_k (a - za[m]) * (b - zb[n]).
// acc[i][j] = sum_k (A[i][k] - za[i]) * (B[k][j] - zb[j]) with typed loads: the inner loop over
// j widens, subtracts and multiplies whole vectors (the compiler vectorizes it).
template <typename TA, typename TB>
void integer_matmul_typed(const TA* a, const TB* b, const std::vector<int32_t>& za, const std::vector<int32_t>& zb,
                          const MatMulPlan& p, int32_t* out) {
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    const TA* ab = a + p.a_offset[static_cast<size_t>(bi)];
    const TB* bb = b + p.b_offset[static_cast<size_t>(bi)];
    int32_t* o = out + bi * p.m * p.n;
    parallel_for(p.m, p.n * p.k, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        int32_t* row = o + i * p.n;
        std::fill(row, row + p.n, 0);
        for (int64_t kk = 0; kk < p.k; ++kk) {
          const int32_t av = static_cast<int32_t>(ab[i * p.k + kk]) - za[static_cast<size_t>(i)];
          if (av == 0) continue;
          const TB* brow = bb + kk * p.n;
          for (int64_t j = 0; j < p.n; ++j) row[j] += av * (static_cast<int32_t>(brow[j]) - zb[static_cast<size_t>(j)]);
        }
      }
    });
  }
}

void integer_matmul(const KernelContext& c, const Tensor& a, const Tensor& b, const Tensor* a_zp, const Tensor* b_zp,
                    const MatMulPlan& p, int32_t* out) {
  auto zp_at = [&](const Tensor* zp, int64_t i) -> int32_t {
    if (!zp) return 0;
    return static_cast<int32_t>(zp->get_as_int64(zp->numel() == 1 ? 0 : i));
  };
  if (a_zp && a_zp->numel() != 1 && a_zp->numel() != p.m) c.fail("A zero point must be a scalar or have M entries");
  if (b_zp && b_zp->numel() != 1 && b_zp->numel() != p.n) c.fail("B zero point must be a scalar or have N entries");
  std::vector<int32_t> za(static_cast<size_t>(p.m)), zb(static_cast<size_t>(p.n));
  for (int64_t i = 0; i < p.m; ++i) za[static_cast<size_t>(i)] = zp_at(a_zp, i);
  for (int64_t j = 0; j < p.n; ++j) zb[static_cast<size_t>(j)] = zp_at(b_zp, j);
  const bool a_u8 = a.dtype() == DType::UInt8, b_u8 = b.dtype() == DType::UInt8;
  if (a_u8 && b_u8) integer_matmul_typed(a.data<uint8_t>(), b.data<uint8_t>(), za, zb, p, out);
  else if (a_u8) integer_matmul_typed(a.data<uint8_t>(), b.data<int8_t>(), za, zb, p, out);
  else if (b_u8) integer_matmul_typed(a.data<int8_t>(), b.data<uint8_t>(), za, zb, p, out);
  else integer_matmul_typed(a.data<int8_t>(), b.data<int8_t>(), za, zb, p, out);
}

// uint8 activations times constant int8 weights (a W8A8 linear layer) on the integer GEMM
// kernels: Y^T = B^T x A^T, B^T packed once per node in blocks of rows, A's rows the product's
// columns (read in place, or packed), and Y written transposed (QOutputStage::transposed) straight into the
// output, where it had been computed as Y^T and transposed back element by element. Threads
// share blocks of rows and of columns. False when the operands do not have that form.
bool matmul_integer_kernels(const KernelContext& c, const Tensor& a, const Tensor& b, const MatMulPlan& p, int32_t* out) {
  const QIsa isa = qgemm_isa_best();
  const bool b_zero_point_zero = !c.has(3) || (c.in(3).numel() == 1 && c.in(3).get_as_int64(0) == 0);
  if (isa == QIsa::Reference || a.dtype() != DType::UInt8 || b.dtype() != DType::Int8 || b.rank() != 2 || !c.input_is_constant(1) ||
      !b_zero_point_zero || (c.has(2) && c.in(2).numel() != 1))
    return false;
  constexpr int64_t kRowBlock = 256;     // weight rows (output features) per item: four 64-row panels
  constexpr int64_t kColumnBlock = 192;  // product columns (A's rows) per item: whole 6- and 32-column chunks
  const int64_t row_blocks = (p.n + kRowBlock - 1) / kRowBlock, column_blocks = (p.m + kColumnBlock - 1) / kColumnBlock;
  const auto& packed = derived_from_input<std::vector<QPackedWeights>>(c, 1, [&] {
    std::vector<int8_t> bt(static_cast<size_t>(p.n * p.k));
    for (int64_t kk = 0; kk < p.k; ++kk)
      for (int64_t j = 0; j < p.n; ++j) bt[static_cast<size_t>(j * p.k + kk)] = b.data<int8_t>()[kk * p.n + j];
    const QWeightLayout layout = qgemm_layout_for(isa, p.n, p.m, p.k, /*transposed_output=*/true);
    std::vector<QPackedWeights> result;
    for (int64_t r0 = 0; r0 < p.n; r0 += kRowBlock)
      result.push_back(qgemm_pack_weights(isa, bt.data() + r0 * p.k, std::min(kRowBlock, p.n - r0), p.k, p.k, layout));
    return result;
  });
  const int32_t a_zero_point = c.has(2) ? static_cast<int32_t>(c.in(2).get_as_int64(0)) : 0;
  QOutputStage stage;
  stage.transposed = true;
  QPackedActivations acts;
  const int64_t width = qgemm_tile_columns_for(packed.front(), p.m);
  // The 64x6 kernel reads A's rows in place (as fast as packed ones in qgemm_vs_onednn); the
  // other packs them.
  const bool in_place = packed.front().layout == QWeightLayout::RowsInLanes && p.k % 4 == 0;
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    const uint8_t* a_rows = a.data<uint8_t>() + p.a_offset[static_cast<size_t>(bi)];
    if (in_place) {
      acts = qgemm_activations_rows(isa, a_rows, p.k, p.m, p.k);
    } else {
      qgemm_activations_reset(isa, p.k, p.m, acts, width);
      parallel_for(column_blocks, kColumnBlock * p.k, [&](int64_t s, int64_t e) {
        qgemm_pack_activation_columns(acts, s * kColumnBlock, std::min(p.m, e * kColumnBlock), a_rows, p.k);
      });
    }
    int32_t* o = out + bi * p.m * p.n;
    parallel_for(row_blocks * column_blocks, kRowBlock * kColumnBlock * p.k, [&](int64_t s, int64_t e) {
      for (int64_t item = s; item < e; ++item) {
        const int64_t blk = item / column_blocks, col0 = item % column_blocks * kColumnBlock;
        const QPackedWeights& w = packed[static_cast<size_t>(blk)];
        qgemm(w, acts, a_zero_point, nullptr, col0, std::min(p.m, col0 + kColumnBlock), QOutput::Int32, stage, o + blk * kRowBlock, p.n);
      }
    });
  }
  return true;
}

void op_matmul_integer(KernelContext& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  const MatMulPlan p = plan_matmul(c, a.shape(), b.shape());
  if (Tensor y = Tensor::uninitialized(DType::Int32, p.out_shape); matmul_integer_kernels(c, a, b, p, y.data<int32_t>())) {
    c.outputs[0] = std::move(y);
    return;
  }
  Tensor y(DType::Int32, p.out_shape);
  integer_matmul(c, a, b, c.has(2) ? &c.in(2) : nullptr, c.has(3) ? &c.in(3) : nullptr, p, y.data<int32_t>());
  c.outputs[0] = std::move(y);
}

void op_qlinear_matmul(KernelContext& c) {
  const Tensor &a = c.in(0), &b = c.in(3);
  const Tensor &a_scale = c.in(1), &a_zp = c.in(2), &b_scale = c.in(4), &b_zp = c.in(5);
  const Tensor &y_scale = c.in(6), &y_zp = c.in(7);
  const MatMulPlan p = plan_matmul(c, a.shape(), b.shape());
  Tensor acc(DType::Int32, p.out_shape);
  integer_matmul(c, a, b, &a_zp, &b_zp, p, acc.data<int32_t>());
  Tensor y(y_zp.dtype(), p.out_shape);
  const float ys = static_cast<float>(y_scale.get_as_double(0));
  const int64_t zp = y_zp.get_as_int64(0);
  for (int64_t i = 0; i < acc.numel(); ++i) {
    const int64_t col = p.n ? i % p.n : 0;
    const float as = static_cast<float>(a_scale.get_as_double(0));
    const float bs = static_cast<float>(b_scale.get_as_double(b_scale.numel() == 1 ? 0 : col));
    // ONNX Runtime computes the multiplier in float32 and rounds half to even.
    const float v = static_cast<float>(acc.data<int32_t>()[i]) * (as * bs / ys);
    store_quantized(y, i, std::nearbyint(v) + static_cast<double>(zp));
  }
  c.outputs[0] = std::move(y);
}

}  // namespace

void register_matmul_ops(Registry& r) {
  r["Gemm"] = op_gemm;
  r["MatMul"] = op_matmul;
  r["MatMulInteger"] = op_matmul_integer;
  r["QLinearMatMul"] = op_qlinear_matmul;
}

}  // namespace dyad::ops
