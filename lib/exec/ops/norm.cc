// Normalizations: BatchNormalization (inference and training mode), LayerNormalization,
// InstanceNormalization. Statistics accumulate in double so long rows stay accurate.
#include <Eigen/Core>
#include <cmath>

#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

template <typename T>
void batch_norm(KernelContext& c) {
  const Tensor &x = c.in(0), &scale = c.in(1), &bias = c.in(2), &mean_in = c.in(3), &var_in = c.in(4);
  if (x.rank() < 2) c.fail("input must be at least 2-D");
  const float eps = c.node.get_float("epsilon", 1e-5f), momentum = c.node.get_float("momentum", 0.9f);
  const bool training = c.node.get_int("training_mode", 0) != 0;
  const int64_t N = x.dim(0), C = x.dim(1), plane = x.numel() / std::max<int64_t>(N * C, 1);
  std::vector<double> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C));
  for (int64_t ch = 0; ch < C; ++ch) {
    if (!training) {
      mean[static_cast<size_t>(ch)] = static_cast<double>(mean_in.data<T>()[ch]);
      var[static_cast<size_t>(ch)] = static_cast<double>(var_in.data<T>()[ch]);
      continue;
    }
    double s = 0, s2 = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < plane; ++i) {
        const double v = static_cast<double>(x.data<T>()[(n * C + ch) * plane + i]);
        s += v;
        s2 += v * v;
      }
    const double count = static_cast<double>(N * plane);
    mean[static_cast<size_t>(ch)] = s / count;
    var[static_cast<size_t>(ch)] = s2 / count - (s / count) * (s / count);
  }
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  parallel_for(N * C, plane, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t ch = i % C;
      // Folded to one multiply-add per element, computed in float like the runtimes do.
      const T a = static_cast<T>(scale.data<T>()[ch] / std::sqrt(static_cast<T>(var[static_cast<size_t>(ch)]) + static_cast<T>(eps)));
      const T shift = bias.data<T>()[ch] - a * static_cast<T>(mean[static_cast<size_t>(ch)]);
      const T* src = x.data<T>() + i * plane;
      T* dst = y.data<T>() + i * plane;
      for (int64_t j = 0; j < plane; ++j) dst[j] = src[j] * a + shift;
    }
  });
  c.outputs[0] = std::move(y);
  if (training && c.outputs.size() >= 3) {
    Tensor rm(mean_in.dtype(), mean_in.shape()), rv(var_in.dtype(), var_in.shape());
    for (int64_t ch = 0; ch < C; ++ch) {
      rm.data<T>()[ch] = static_cast<T>(mean_in.data<T>()[ch] * momentum + mean[static_cast<size_t>(ch)] * (1 - momentum));
      rv.data<T>()[ch] = static_cast<T>(var_in.data<T>()[ch] * momentum + var[static_cast<size_t>(ch)] * (1 - momentum));
    }
    c.outputs[1] = std::move(rm);
    c.outputs[2] = std::move(rv);
  }
}

void op_batch_norm(KernelContext& c) {
  dispatch_float(c, c.in(0).dtype(), [&](auto tag) { batch_norm<decltype(tag)>(c); });
}

template <typename T>
void layer_norm(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int axis = normalize_axis(c, c.node.get_int("axis", -1), x.rank());
  const float eps = c.node.get_float("epsilon", 1e-5f);
  int64_t rows = 1, cols = 1;
  for (int d = 0; d < x.rank(); ++d) (d < axis ? rows : cols) *= x.dim(d);
  const Tensor& scale = c.in(1);
  const Tensor* bias = c.has(2) ? &c.in(2) : nullptr;
  if (scale.numel() != cols && scale.numel() != 1) c.fail("scale has {} elements, expected {}", scale.numel(), cols);
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  Shape stat_shape = x.shape();
  for (int d = axis; d < x.rank(); ++d) stat_shape[static_cast<size_t>(d)] = 1;
  Tensor mean_out(x.dtype(), stat_shape), inv_std_out(x.dtype(), stat_shape);
  parallel_for(rows, cols * 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* src = x.data<T>() + r * cols;
      // Two passes in the input precision (mean, then squared deviations): exact enough for
      // rows of normal width and vectorizable, unlike a double accumulator.
      using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
      const Eigen::Map<const Array> row(src, cols);
      const T mean = row.sum() / static_cast<T>(cols);
      const T s2 = (row - mean).square().sum();
      const T inv_std = T(1) / std::sqrt(s2 / static_cast<T>(cols) + static_cast<T>(eps));
      T* dst = y.data<T>() + r * cols;
      const T* sc = scale.data<T>();
      const T* bi = bias ? bias->data<T>() : nullptr;
      const bool scalar_scale = scale.numel() == 1, scalar_bias = bias && bias->numel() == 1;
      if (!scalar_scale && bi && !scalar_bias) {
        for (int64_t j = 0; j < cols; ++j) dst[j] = (src[j] - mean) * inv_std * sc[j] + bi[j];
      } else {
        for (int64_t j = 0; j < cols; ++j) {
          T v = (src[j] - mean) * inv_std * sc[scalar_scale ? 0 : j];
          if (bi) v += bi[scalar_bias ? 0 : j];
          dst[j] = v;
        }
      }
      mean_out.data<T>()[r] = static_cast<T>(mean);
      inv_std_out.data<T>()[r] = static_cast<T>(inv_std);
    }
  });
  c.outputs[0] = std::move(y);
  if (c.outputs.size() > 1) c.outputs[1] = std::move(mean_out);
  if (c.outputs.size() > 2) c.outputs[2] = std::move(inv_std_out);
}

void op_layer_norm(KernelContext& c) {
  dispatch_float(c, c.in(0).dtype(), [&](auto tag) { layer_norm<decltype(tag)>(c); });
}

template <typename T>
void instance_norm(KernelContext& c) {
  const Tensor &x = c.in(0), &scale = c.in(1), &bias = c.in(2);
  if (x.rank() < 3) c.fail("input must be at least 3-D");
  const float eps = c.node.get_float("epsilon", 1e-5f);
  const int64_t C = x.dim(1), planes = x.dim(0) * C, size = x.numel() / std::max<int64_t>(planes, 1);
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  parallel_for(planes, size * 4, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const T* src = x.data<T>() + p * size;
      double s = 0, s2 = 0;
      for (int64_t j = 0; j < size; ++j) s += static_cast<double>(src[j]);
      const double mean = s / static_cast<double>(size);
      for (int64_t j = 0; j < size; ++j) s2 += (static_cast<double>(src[j]) - mean) * (static_cast<double>(src[j]) - mean);
      const double inv_std = 1.0 / std::sqrt(s2 / static_cast<double>(size) + eps);
      const double a = inv_std * static_cast<double>(scale.data<T>()[p % C]), sh = static_cast<double>(bias.data<T>()[p % C]);
      for (int64_t j = 0; j < size; ++j) y.data<T>()[p * size + j] = static_cast<T>((static_cast<double>(src[j]) - mean) * a + sh);
    }
  });
  c.outputs[0] = std::move(y);
}

void op_instance_norm(KernelContext& c) {
  dispatch_float(c, c.in(0).dtype(), [&](auto tag) { instance_norm<decltype(tag)>(c); });
}

template <bool kLog>
void softmax(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int64_t default_axis = c.opset >= 13 ? -1 : 1;
  const int axis = normalize_axis(c, c.node.get_int("axis", default_axis), x.rank());
  // Before opset 13 the input is flattened to 2-D at `axis`; from 13 on softmax runs along one axis.
  int64_t outer = 1, dim = 1, inner = 1;
  for (int d = 0; d < x.rank(); ++d) {
    if (d < axis) outer *= x.dim(d);
    else if (d == axis || c.opset < 13) dim *= x.dim(d);
    else inner *= x.dim(d);
  }
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  dispatch_float(c, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    parallel_for(outer * inner, dim * 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t o = r / inner, i = r % inner;
        const T* src = x.data<T>() + o * dim * inner + i;
        T* dst = y.data<T>() + o * dim * inner + i;
        T sum = 0;
        if (inner == 1) {  // contiguous row: vectorized max, exp, sum and scale
          using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
          const Eigen::Map<const Array> in(src, dim);
          Eigen::Map<Array> row(dst, dim);
          const T mx = in.maxCoeff();
          if constexpr (kLog) {
            const T ls = std::log((in - mx).exp().sum());
            row = in - (mx + ls);
          } else {
            row = (in - mx).exp();
            row *= T(1) / row.sum();
          }
          continue;
        }
        T mx = src[0];
        for (int64_t j = 1; j < dim; ++j) mx = std::max(mx, src[j * inner]);
        {
          for (int64_t j = 0; j < dim; ++j) {
            const T ev = std::exp(src[j * inner] - mx);
            dst[j * inner] = ev;
            sum += ev;
          }
        }
        if constexpr (kLog) {
          const T ls = std::log(sum);
          for (int64_t j = 0; j < dim; ++j) dst[j * inner] = src[j * inner] - mx - ls;
        } else {
          const T inv = T(1) / sum;
          for (int64_t j = 0; j < dim; ++j) dst[j * inner] *= inv;
        }
      }
    });
  });
  c.outputs[0] = std::move(y);
}

}  // namespace

void register_norm_ops(Registry& r) {
  r["BatchNormalization"] = op_batch_norm;
  r["LayerNormalization"] = op_layer_norm;
  r["InstanceNormalization"] = op_instance_norm;
}

void register_softmax_ops(Registry& r) {
  r["Softmax"] = softmax<false>;
  r["LogSoftmax"] = softmax<true>;
}

}  // namespace dyad::ops
