// export_initializers MODEL.onnx DIR: writes every initializer (and Constant node value) of the
// model as DIR/<name>.npy with '/' and ':' in names replaced by '_', and DIR/names.txt mapping
// file to name, and DIR/batchnorm.txt with each BatchNormalization's scale and bias names (the
// exporter shares identical bias tensors between layers under one name). For bench/torch_ptq_compare.py, which loads our testdata models' weights back
// into their PyTorch definitions without an ONNX Python package.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "lib/passes/passes.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: export_initializers MODEL.onnx DIR\n");
    return 2;
  }
  try {
    dyad::Model model = dyad::load_onnx(argv[1]);
    dyad::remove_identity(model);  // nothing else: BatchNorm must stay unfolded for PyTorch
    const std::filesystem::path dir = argv[2];
    std::filesystem::create_directories(dir);
    std::ofstream names(dir / "names.txt");
    for (const auto& [name, tensor] : model.graph.initializers) {
      std::string file = name;
      for (char& c : file)
        if (c == '/' || c == ':') c = '_';
      dyad::write_npy(tensor, dir / (file + ".npy"));
      names << file << ".npy " << name << "\n";
    }
    std::ofstream batchnorms(dir / "batchnorm.txt");
    for (const auto& n : model.graph.nodes)
      if (n.op_type == "BatchNormalization" && n.inputs.size() >= 3) batchnorms << n.inputs[1] << " " << n.inputs[2] << "\n";
    for (const auto& n : model.graph.nodes)
      if (n.op_type == "Constant" && n.has("value")) {
        std::string file = n.outputs[0];
        for (char& c : file)
          if (c == '/' || c == ':') c = '_';
        dyad::write_npy(n.attrs.at("value").t, dir / (file + ".npy"));
        names << file << ".npy " << n.outputs[0] << "\n";
      }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "export_initializers: %s\n", e.what());
    return 1;
  }
  return 0;
}
