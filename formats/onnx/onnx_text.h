// Models written in ONNX's text syntax (onnx/defs/parser.h), for tests and readable goldens:
//
//   <ir_version: 8, opset_import: ["" : 17]>
//   g (float[1,4] x) => (float[1,4] y) { y = Relu(x) }
#pragma once
#include <string>

#include "formats/onnx/onnx_io.h"

namespace dyad {

// Parses, checks and shape-infers like load_onnx; throws Error with the parser's message.
Model parse_onnx_text(const std::string& text, const LoadOptions& options = {});

}  // namespace dyad
