#include "formats/onnx/onnx_text.h"

#include <onnx/defs/parser.h>

namespace dyad {

Model parse_onnx_text(const std::string& text, const LoadOptions& options) {
  onnx::ModelProto p;
  const auto status = onnx::OnnxParser::Parse(p, text.c_str());
  if (!status.IsOK()) fail("ONNX text does not parse: {}", status.ErrorMessage());
  return load_onnx_from_bytes(p.SerializeAsString(), ".", "<onnx text>", options);
}

}  // namespace dyad
