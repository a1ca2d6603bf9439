#include "lib/passes/passes.h"

namespace dyad {

std::vector<std::string> prepare_graph(Model& model) {
  std::vector<std::string> applied;
  // Each pass can expose work for the others (a folded constant feeding a BatchNorm, an
  // Identity between a Conv and its BatchNorm), so iterate to a fixed point.
  for (int round = 0; round < 8; ++round) {
    bool any = false;
    if (remove_identity(model)) applied.push_back("remove_identity"), any = true;
    if (fold_constants(model)) applied.push_back("fold_constants"), any = true;
    if (fold_batchnorm(model)) applied.push_back("fold_batchnorm"), any = true;
    if (fuse_layer_norm(model)) applied.push_back("fuse_layer_norm"), any = true;
    if (!any) break;
  }
  return applied;
}

}  // namespace dyad
