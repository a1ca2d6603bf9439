// top1 LOGITS.npy LABELS.npy: prints the top-1 accuracy of classifier outputs.
#include <cstdio>

#include "formats/tensor_io/npy.h"
#include "lib/eval/classification.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: top1 LOGITS.npy LABELS.npy\n");
    return 2;
  }
  try {
    const dyad::Top1 r = dyad::top1_accuracy(dyad::read_npy(argv[1]), dyad::read_npy(argv[2]));
    std::printf("top-1: %lld of %lld correct (%.2f%%)\n", static_cast<long long>(r.correct),
                static_cast<long long>(r.total), r.percent());
  } catch (const dyad::Error& e) {
    std::fprintf(stderr, "top1: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
