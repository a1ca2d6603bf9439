#!/usr/bin/python3
"""Calibration samples for the bundled example: the first 256 Fashion-MNIST *training* images,
normalised as the models expect (testdata/make_models.py), so the example calibrates on data the
test images are not part of.

Run with Debian's numpy and dataset-fashion-mnist:  /usr/bin/python3 testdata/make_fmnist_samples.py
"""
import gzip
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN, STD = 0.2860, 0.3530
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "rb") as f:
    raw = f.read()
images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:256]
x = ((images.astype(np.float32) / 255.0 - MEAN) / STD)[:, None, :, :]
np.save(os.path.join(HERE, "fmnist", "train_256.npy"), x)
