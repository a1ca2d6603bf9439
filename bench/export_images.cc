// export_images MODEL.onnx FOLDER SPEC OUT.npy: the images of FOLDER preprocessed by SPEC (the
// --preprocess syntax) for MODEL's first input, as one [N, ...] array, exactly as compress would
// calibrate on them. For bench/calib_methods.py, which evaluates on such images.
#include <cstdio>

#include "formats/images/image_folder.h"
#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: export_images MODEL.onnx FOLDER SPEC OUT.npy\n");
    return 2;
  }
  try {
    const dyad::Model model = dyad::load_onnx(argv[1]);
    const dyad::Preprocess p = dyad::parse_preprocess(argv[3], model.graph.inputs.at(0));
    dyad::write_npy(dyad::load_images(dyad::image_files(argv[2]), p), argv[4]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "export_images: %s\n", e.what());
    return 1;
  }
  return 0;
}
