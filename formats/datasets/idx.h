// IDX files (the MNIST / Fashion-MNIST format), optionally gzip-compressed as Debian's
// dataset-fashion-mnist ships them (/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz).
#pragma once
#include <filesystem>

#include "lib/ir/tensor.h"

namespace dyad {

// uint8 data with the file's dimensions (images [N, 28, 28], labels [N]).
Tensor read_idx(const std::filesystem::path& path);

// Fashion-MNIST images as the testdata models take them: float [N, 1, 28, 28], (x/255 - mean)/std
// with the training set's mean 0.2860 and std 0.3530 (testdata/make_models.py).
Tensor normalize_fashion_mnist(const Tensor& images_u8);

}  // namespace dyad
