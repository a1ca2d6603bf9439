#include "formats/images/image_folder.h"

#include <algorithm>
#include <cstring>

namespace dyad {

namespace fs = std::filesystem;

std::vector<fs::path> image_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && has_image_extension(e.path())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

Tensor load_images(const std::vector<fs::path>& files, const Preprocess& p, int64_t max_images) {
  const int64_t n = max_images > 0 ? std::min<int64_t>(max_images, static_cast<int64_t>(files.size())) : static_cast<int64_t>(files.size());
  if (n == 0) fail("no images to load");
  Tensor first = preprocess_image(read_image(files[0]), p);
  Shape shape = first.shape();
  shape[0] = n;
  Tensor all(DType::Float32, shape);
  const size_t per = first.nbytes();
  std::memcpy(all.raw(), first.raw(), per);
  for (int64_t i = 1; i < n; ++i) {
    const Tensor t = preprocess_image(read_image(files[static_cast<size_t>(i)]), p);
    std::memcpy(all.raw() + static_cast<size_t>(i) * per, t.raw(), per);
  }
  return all;
}

}  // namespace dyad
