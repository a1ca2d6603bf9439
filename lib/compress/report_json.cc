// The compression report as JSON. Written by hand (no JSON library in the dependency list);
// numbers use fixed formats so the same run gives the same bytes.
#include <fmt/format.h>

#include <cmath>

#include "lib/compress/compress.h"

namespace dyad {

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<int>(c));
    else out += c;
  }
  return out + "\"";
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";  // JSON has no infinity (an exact layer has no noise)
  return fmt::format("{:.6g}", v);
}

}  // namespace

std::string report_to_json(const CompressReport& r) {
  std::string out = "{\n";
  out += fmt::format("  \"budget\": {},\n", quoted(r.budget));
  out += fmt::format("  \"scheme\": \"W8A8: int8 per-channel weights, uint8 activations\",\n");
  out += fmt::format("  \"format\": {},\n", quoted(r.format == QuantFormat::Qdq ? "qdq" : "integer-only (dyadic requantization)"));
  out += fmt::format("  \"calibration\": {{\"method\": {}, \"percentile\": {}, \"samples\": {}}},\n",
                     quoted(calib_method_name(r.method)), number(r.percentile), r.calibration_samples);
  out += fmt::format("  \"summary\": {{\"float_weight_bytes\": {}, \"compressed_weight_bytes\": {}, \"ratio\": {}, "
                     "\"quantized_layers\": {}, \"bias_corrected_layers\": {}, \"attention_matmuls\": {}, \"elementwise_tables\": {}, \"float_islands\": {}, "
                     "\"sqnr_samples\": {}, \"output_sqnr_db\": {}, \"bias_correction\": {}}},\n",
                     r.float_weight_bytes, r.compressed_weight_bytes,
                     number(r.float_weight_bytes ? static_cast<double>(r.compressed_weight_bytes) / static_cast<double>(r.float_weight_bytes) : 0.0),
                     r.layers.size(), r.bias_corrected, r.activation_matmuls, r.tables, r.float_islands.size(), r.validation_samples, number(r.output_sqnr_db), quoted(r.bias_correction));
  out += "  \"candidates\": [";
  for (size_t i = 0; i < r.candidates.size(); ++i) out += (i ? ", " : "") + quoted(r.candidates[i]);
  out += "],\n";
  out += "  \"float_islands\": [";
  for (size_t i = 0; i < r.float_islands.size(); ++i) out += (i ? ", " : "") + quoted(r.float_islands[i]);
  out += "],\n  \"passes\": [";
  for (size_t i = 0; i < r.passes.size(); ++i) out += (i ? ", " : "") + quoted(r.passes[i]);
  out += "],\n  \"layers\": [\n";
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const QuantizedLayer& l = r.layers[i].layer;
    out += fmt::format(
        "    {{\"node\": {}, \"op\": {}, \"weight_bits\": {}, \"activation_bits\": 8, \"weight_scale_min\": {}, "
        "\"weight_scale_max\": {}, \"weight_sqnr_db\": {}, \"input_scale\": {}, \"input_zero_point\": {}, \"output_scale\": {}, "
        "\"output_zero_point\": {}, \"float_output\": {}, \"output_sqnr_db\": {}}}{}\n",
        quoted(l.node), quoted(l.op), l.weight_bits, number(l.weight_scale_min), number(l.weight_scale_max), number(l.weight_sqnr_db),
        number(l.input_scale), l.input_zero_point, number(l.output_scale), l.output_zero_point, l.float_output ? "true" : "false",
        number(r.layers[i].sqnr_db),
        i + 1 < r.layers.size() ? "," : "");
  }
  out += "  ]\n}\n";
  return out;
}

}  // namespace dyad
