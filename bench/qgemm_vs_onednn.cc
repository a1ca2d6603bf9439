// Dyad's int8 GEMM against oneDNN's int8 matmul (Debian libdnnl-dev, u8 x s8) on the same
// problems, threads and machine, in one run; plus the VNNI peak measured in this process.
//
//   qgemm_vs_onednn [--repeats R] [--only TEXT] [--kernel 8x32|64x6]
//     --only: just the problems whose label contains TEXT; --kernel: force Dyad's kernel (weight
//     layout) instead of the one its executor would pick.
//
// Problems are "M x N x K" in oneDNN's terms (M rows of u8 activations A [M][K], N output
// channels, C = A x B written [M][N]): 256^3, 1024^3 and ResNet-50 convolutions as GEMMs. Dyad
// computes the same product with weights as rows (m = N) and activations as columns (n = M),
// two ways:
//  - nchw: Y = C^T, [N][M], channel-major as its convolutions write NCHW, from activations in
//    its Tiled [M/W][K/4][W][4] layout (W = 32 for the 8x32 kernel, 6 for the 64x6 one unless
//    M leaves one or two columns over), which its im2col writes as it goes: pre-packed.
//  - same: oneDNN's layouts, as a MatMul node runs: C written [M][N] (QOutputStage::
//    transposed), activations pre-packed from A; and "A as is", reading A in place as oneDNN
//    does (QActivationLayout::Rows, the 64x6 kernel), or, where the kernel cannot (--kernel
//    8x32), packing A on every call, the threads sharing it.
// Both sides pack the weights once, outside the timing. Output: int32, and uint8 requantized
// per channel (oneDNN output scales; Dyad dyadic multipliers). "% peak": of the VNNI peak
// measured here, per thread used.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dnnl.hpp>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "integer_kernels/qgemm.h"

namespace dyad::bench {
double vnni_peak_gops_one_thread();
}

namespace {

using namespace dyad;

struct Shape3 {
  const char* label;
  int64_t m, n, k;
};

// Medians of each function's time per call over `repeats` rounds (after three warm-up rounds).
// Each round times every function in turn, so that the host's drifting speed reaches them
// alike; a function's turn is one untimed call, which brings its operands back into the caches
// the others used, then three timed calls.
std::vector<double> median_ms_interleaved(int repeats, const std::vector<std::function<void()>>& fns) {
  constexpr int kTimedCalls = 3;
  std::vector<std::vector<double>> ms(fns.size());
  for (int round = -3; round < repeats; ++round)
    for (size_t i = 0; i < fns.size(); ++i) {
      fns[i]();
      const auto t0 = std::chrono::steady_clock::now();
      for (int call = 0; call < kTimedCalls; ++call) fns[i]();
      const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (round >= 0) ms[i].push_back(elapsed / kTimedCalls);
    }
  std::vector<double> medians;
  for (auto& v : ms) {
    std::sort(v.begin(), v.end());
    medians.push_back(v[v.size() / 2]);
  }
  return medians;
}

// fn(t) for t in [0, threads): one thread calls it directly, as the executor does and oneDNN
// (an OpenMP region of one thread took 1.4 us per call here: a futex system call, 4% of 256^3).
template <typename F>
void on_threads(int threads, F&& fn) {
  if (threads == 1) return fn(0);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) fn(t);
}

struct OneDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::matmul prim;
  dnnl::memory src, weights, dst;

  OneDnn(const Shape3& s, const std::vector<uint8_t>& a, const std::vector<int8_t>& b_kn, bool requant) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc a_md({s.m, s.k}, dt::u8, tag::ab), b_any({s.k, s.n}, dt::s8, tag::any),
        b_plain({s.k, s.n}, dt::s8, tag::ab), c_md({s.m, s.n}, requant ? dt::u8 : dt::s32, tag::ab);
    dnnl::primitive_attr attr;
    if (requant) attr.set_output_scales(1 << 1, std::vector<float>(static_cast<size_t>(s.n), 0.001f));
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), attr, engine);
    prim = dnnl::matmul(pd);
    src = dnnl::memory(a_md, engine, const_cast<uint8_t*>(a.data()));
    dnnl::memory plain(b_plain, engine, const_cast<int8_t*>(b_kn.data()));
    weights = dnnl::memory(pd.weights_desc(), engine);
    dnnl::reorder(plain, weights).execute(stream, plain, weights);  // pre-pack, untimed
    dst = dnnl::memory(pd.dst_desc(), engine);
    stream.wait();
  }
  void run() {
    prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream.wait();
  }
};

}  // namespace

int main(int argc, char** argv) {
  int repeats = 20;
  std::string only, kernel;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeats") repeats = std::atoi(argv[++i]);
    else if (arg == "--only") only = argv[++i];
    else if (arg == "--kernel") kernel = argv[++i];
  }
  if (!qisa_supported(QIsa::Avx512Vnni)) {
    std::printf("this CPU has no AVX-512 VNNI; nothing to compare\n");
    return 0;
  }
  const double peak1 = dyad::bench::vnni_peak_gops_one_thread();
  std::printf("int8 GEMM: Dyad %s vs oneDNN %d.%d matmul (u8 x s8), median of %d; VNNI peak measured here: %.0f GOPS per thread\n",
              qisa_name(QIsa::Avx512Vnni), DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR, repeats, peak1);
  const Shape3 shapes[] = {{"256^3", 256, 256, 256},       {"1024^3", 1024, 1024, 1024},
                           {"res2 3x3 (3136x64x576)", 3136, 64, 576}, {"res3 3x3 (784x128x1152)", 784, 128, 1152},
                           {"res4 3x3 (196x256x2304)", 196, 256, 2304}, {"res5 3x3 (49x512x4608)", 49, 512, 4608}};
  std::printf("%-26s %2s %4s %8s %6s %8s %7s | %6s %8s %7s %9s\n", "M x N x K", "T", "out", "dnn GOPS", "nchw", "nchw/dnn", "% peak",
              "same", "same/dnn", "% peak", "A as is");
  std::mt19937 rng(1);
  for (const Shape3& s : shapes) {
    if (std::string(s.label).find(only) == std::string::npos) continue;
    std::vector<uint8_t> a(static_cast<size_t>(s.m * s.k));       // oneDNN A [M][K]
    std::vector<int8_t> b_kn(static_cast<size_t>(s.k * s.n));     // oneDNN B [K][N]
    for (auto& v : a) v = static_cast<uint8_t>(rng());
    for (auto& v : b_kn) v = static_cast<int8_t>(rng());
    // Dyad: W [N][K] (weights as rows), X [K][M] (activation columns).
    std::vector<int8_t> w(static_cast<size_t>(s.n * s.k));
    std::vector<uint8_t> x(static_cast<size_t>(s.k * s.m));
    for (int64_t k = 0; k < s.k; ++k) {
      for (int64_t j = 0; j < s.n; ++j) w[static_cast<size_t>(j * s.k + k)] = b_kn[static_cast<size_t>(k * s.n + j)];
      for (int64_t i = 0; i < s.m; ++i) x[static_cast<size_t>(k * s.m + i)] = a[static_cast<size_t>(i * s.k + k)];
    }
    // Dyad's side, as in the header (--kernel forces the weight layout of both): "same" and "A
    // as is" write C [M][N] (QOutputStage::transposed); "nchw" writes Y [N][M], its activations
    // packed from X [K][M] (its im2col rows).
    auto layout_for = [&](bool transposed) {
      return kernel == "64x6"   ? QWeightLayout::RowsInLanes
             : kernel == "8x32" ? QWeightLayout::ColumnsInLanes
                                : qgemm_layout_for(QIsa::Avx512Vnni, s.n, s.m, s.k, transposed);
    };
    const QPackedWeights pw = qgemm_pack_weights(QIsa::Avx512Vnni, w.data(), s.n, s.k, s.k, layout_for(true));
    const QPackedWeights pw_nchw = qgemm_pack_weights(QIsa::Avx512Vnni, w.data(), s.n, s.k, s.k, layout_for(false));
    std::vector<int32_t> bias(static_cast<size_t>(s.n), 0);
    std::vector<DyadicMultiplier> mult(static_cast<size_t>(s.n), dyadic_from_real(0.001));
    // 64-byte aligned, as the executor's tensors are (lib/ir/tensor.h) and oneDNN's own dst is:
    // from a std::vector (16 bytes past a line here), threads splitting the output rows by
    // columns shared a cache line in every row (in a scratch driver, 256^3 with int32 output on
    // two threads ran 25% slower so; here its two-thread cases rose from 0.86-0.88x oneDNN to
    // 0.90-0.99x once aligned).
    const size_t y_bytes = (static_cast<size_t>(s.n * s.m) * sizeof(int32_t) + 63) / 64 * 64;
    const std::unique_ptr<int32_t, decltype(&std::free)> y32(static_cast<int32_t*>(std::aligned_alloc(64, y_bytes)), &std::free);
    const double ops = 2.0 * static_cast<double>(s.m * s.n * s.k);
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      for (bool requant : {false, true}) {
        const QOutput out = requant ? QOutput::UInt8 : QOutput::Int32;
        QOutputStage stage{mult.data(), 0, 0, 255};
        stage.transposed = true;
        const QOutputStage stage_nchw{mult.data(), 0, 0, 255};
        // Threads share 32-column tiles or weight panels, as the executor splits a product.
        auto compute_with = [&](const QPackedWeights& weights, const QPackedActivations& px, const QOutputStage& st, int64_t ldy) {
          const int64_t row_align = qgemm_row_panel(weights);
          const int64_t tiles = (s.m + 31) / 32, row_panels = (s.n + row_align - 1) / row_align;
          const bool by_rows = qgemm_split_by_rows(s.n, s.m, row_align, threads);
          on_threads(threads, [&](int t) {
            if (by_rows) {
              const int64_t p0 = row_panels * t / threads, p1 = row_panels * (t + 1) / threads;
              qgemm_rows(weights, px, 0, bias.data(), p0 * row_align, std::min(p1 * row_align, s.n), 0, s.m, out, st, y32.get(), ldy);
            } else {
              const int64_t p0 = tiles * t / threads, p1 = tiles * (t + 1) / threads;
              qgemm(weights, px, 0, bias.data(), p0 * 32, std::min(p1 * 32, s.m), out, st, y32.get(), ldy);
            }
          });
        };
        const int64_t width = qgemm_tile_columns_for(pw, s.m);
        const QPackedActivations px = qgemm_pack_activations_transposed(QIsa::Avx512Vnni, a.data(), s.k, s.m, s.k, width);
        const QPackedActivations px_nchw =
            qgemm_pack_activations(QIsa::Avx512Vnni, x.data(), s.k, s.m, s.m, qgemm_tile_columns_for(pw_nchw, s.m));
        auto compute = [&] { compute_with(pw, px, stage, s.n); };
        // A as it is: read in place by the 64x6 kernel (k a multiple of 4), else packed on every
        // call, the threads sharing the packing by columns (rows of A), as a MatMul node does.
        const bool in_place = pw.layout == QWeightLayout::RowsInLanes && s.k % 4 == 0;
        const QPackedActivations rows = in_place ? qgemm_activations_rows(QIsa::Avx512Vnni, a.data(), s.k, s.m, s.k) : QPackedActivations{};
        QPackedActivations repacked;
        auto as_is = [&] {
          if (in_place) return compute_with(pw, rows, stage, s.n);
          qgemm_activations_reset(QIsa::Avx512Vnni, s.k, s.m, repacked, width);
          const int64_t chunks = (s.m + width - 1) / width;
          on_threads(threads, [&](int t) {
            qgemm_pack_activation_columns(repacked, chunks * t / threads * width, std::min(s.m, chunks * (t + 1) / threads * width), a.data(),
                                          s.k);
          });
          compute_with(pw, repacked, stage, s.n);
        };
        auto compute_nchw = [&] { compute_with(pw_nchw, px_nchw, stage_nchw, s.m); };
        OneDnn dnn(s, a, b_kn, requant);
        const std::vector<double> ms = median_ms_interleaved(repeats, {compute, as_is, [&] { dnn.run(); }, compute_nchw});
        const double same_ms = ms[0], as_is_ms = ms[1], dnn_ms = ms[2], nchw_ms = ms[3];
        const double peak_ms = ops / (peak1 * threads * 1e6);  // at the measured peak
        auto name = [](const QPackedWeights& weights) { return weights.layout == QWeightLayout::RowsInLanes ? "64x6" : "8x32"; };
        std::printf("%-26s %2d %4s %8.0f %6s %7.2fx %6.0f%% | %6s %7.2fx %6.0f%% %8.2fx\n", s.label, threads, requant ? "u8" : "s32",
                    ops / dnn_ms / 1e6, name(pw_nchw), dnn_ms / nchw_ms, 100.0 * peak_ms / nchw_ms, name(pw), dnn_ms / same_ms,
                    100.0 * peak_ms / same_ms, dnn_ms / as_is_ms);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
