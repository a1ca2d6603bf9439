// PP-OCRv4 recognition: how many of the 40 rendered evaluation lines decode (CTC greedy) to the
// float model's string after W8A8 compression with the given options. For trying quantization
// choices on the one model where they matter most; tests/ocr_recognition_test.cc guards the
// default.
//
//   ocr_strings [--method minmax|percentile|mse|entropy] [--bias-correction on|off]
//               [--per-channel on|off] [--table-index-bits B] [--keep-float NODE_OR_OP,...]
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <utility>
#include <sstream>
#include <string>

#include "bench/bench_util.h"
#include "formats/calib_data.h"
#include "formats/images/image_folder.h"
#include "formats/onnx/onnx_io.h"
#include "lib/compress/compress.h"
#include "lib/eval/classification.h"
#include "lib/eval/ctc.h"

using namespace dyad;

int main(int argc, char** argv) {
  const std::filesystem::path assets = bench::ocr_assets(), lines = std::filesystem::path(DYAD_SOURCE_DIR) / "testdata" / "ocr" / "lines";
  const Model model = load_onnx(assets / "ch_PP-OCRv4_rec_infer.onnx");
  const std::string preprocess = "fit=48x320,mean=0.5,std=0.5";
  CompressOptions options;
  options.budget = parse_budget("bits=8");
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--method") options.method = parse_calib_method(value);
    else if (flag == "--bias-correction") options.bias_correction = value == "on" ? BiasCorrection::On : BiasCorrection::Off;
    else if (flag == "--per-channel") options.per_channel_activations = value == "on";
    else if (flag == "--table-index-bits") options.table_index_bits = std::stoi(value);
    else if (flag == "--keep-float") {
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) options.keep_float.insert(item);
    }
  }
  options.calibration = load_calibration_batches(lines / "calib", model.graph, {.batch_size = 32, .max_samples = 0, .preprocess = preprocess});
  const CompressResult r = compress_model(model, options);
  const Tensor images = load_images(image_files(lines / "eval"), parse_preprocess(preprocess, model.graph.inputs[0]));
  const std::map<std::string, Tensor> inputs{{model.graph.inputs[0].name, images}};
  const Tensor float_scores = Executor(model).run(inputs)[0], int8_scores = Executor(r.model).run(inputs)[0];
  const auto float_text = ctc_greedy_decode(float_scores);
  const auto int8_text = ctc_greedy_decode(int8_scores);
  int equal = 0;
  for (size_t i = 0; i < float_text.size(); ++i) {
    equal += float_text[i] == int8_text[i];
    if (float_text[i] == int8_text[i]) continue;
    // The first step whose best class differs: both models' two best scores there.
    const int64_t steps = float_scores.dim(1), classes = float_scores.dim(2);
    for (int64_t t = 0; t < steps; ++t) {
      auto top2 = [&](const Tensor& s) {
        const float* p = s.data<float>() + (static_cast<int64_t>(i) * steps + t) * classes;
        int64_t a = 0, b = 1;
        if (p[b] > p[a]) std::swap(a, b);
        for (int64_t k = 2; k < classes; ++k) {
          if (p[k] > p[a]) b = a, a = k;
          else if (p[k] > p[b]) b = k;
        }
        return std::array<double, 4>{static_cast<double>(a), p[a], static_cast<double>(b), p[b]};
      };
      const auto f = top2(float_scores), q = top2(int8_scores);
      if (f[0] == q[0]) continue;
      std::printf("  line %zu step %lld: float %g (%.4f) %g (%.4f); int8 %g (%.4f) %g (%.4f)\n", i, static_cast<long long>(t), f[0], f[1], f[2],
                  f[3], q[0], q[1], q[2], q[3]);
    }
  }
  // On the evaluation lines: output SQNR and how many time steps keep the float model's best class.
  double signal = 0, noise = 0;
  for (int64_t i = 0; i < float_scores.numel(); ++i) {
    const double a = float_scores.data<float>()[i], b = int8_scores.data<float>()[i];
    signal += a * a;
    noise += (a - b) * (a - b);
  }
  const int64_t steps = float_scores.numel() / float_scores.dim(2), same_steps = rows_with_same_argmax(float_scores, int8_scores);
  std::printf("candidates (validation samples):\n");
  for (const auto& c : r.report.candidates) std::printf("  %s\n", c.c_str());
  std::string passes;
  for (const auto& p : r.report.passes) passes += " " + p;
  std::printf("%d of %zu strings equal the float model's; eval output SQNR %.2f dB, %lld of %lld steps keep the best class; "
              "chosen: %s, bias correction %s, passes:%s (validation output SQNR %.2f dB)\n",
              equal, float_text.size(), 10 * std::log10(signal / noise), static_cast<long long>(same_steps), static_cast<long long>(steps),
              calib_method_name(r.report.method), r.report.bias_correction.c_str(), passes.c_str(), r.report.output_sqnr_db);
  return 0;
}
