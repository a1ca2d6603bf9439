// From a decoded image to a model input tensor, as the --preprocess option describes it:
//
//   size=HxW          resize to exactly H x W (aspect not kept)
//   resize=S,crop=C   resize the shorter side to S (aspect kept), then a centre crop of C or HxW
//                     (torchvision's Resize + CenterCrop; ImageNet models: resize=256,crop=224)
//   fit=HxW           resize to height H keeping the aspect (width at most W), then pad the right
//                     side up to W with `pad` (PaddleOCR's recognition input)
//   mean=a[:b:c]      subtracted after scaling pixels to [0, 1]; one value or one per channel
//   std=a[:b:c]       divided by after the mean
//   pad=v             value of padded pixels after normalisation (default 0)
//   layout=nchw|nhwc  default nchw
//   order=rgb|bgr     channel order (default rgb)
//
// Without a size, fit or crop, the model input's own height and width are used (they must then
// be known). The channel count comes from the model input: gray images are replicated to three
// channels, colour images are reduced to luminance for one. Resizing is bilinear with half-pixel
// centres, averaging over the source footprint when shrinking (like Pillow), so text stays legible.
#pragma once
#include <string>
#include <vector>

#include "formats/images/image.h"
#include "lib/ir/graph.h"
#include "lib/ir/tensor.h"

namespace dyad {

struct Preprocess {
  enum class Resize { Stretch, ShorterSideThenCrop, FitAndPad };
  Resize resize = Resize::Stretch;
  int64_t height = 0, width = 0;  // the tensor's spatial size
  int64_t shorter_side = 0;       // for ShorterSideThenCrop
  int64_t channels = 3;
  std::vector<float> mean = {0.0f}, std = {1.0f};
  float pad = 0.0f;
  bool nhwc = false, bgr = false;
};

// Parses `text` (the option's value; may be empty) against the model input it feeds.
Preprocess parse_preprocess(const std::string& text, const ValueInfo& input);

// One sample: [1, C, H, W] or [1, H, W, C] float32.
Tensor preprocess_image(const Image& image, const Preprocess& p);

}  // namespace dyad
