#!/usr/bin/python3
"""Small .npz archives written by numpy itself (stored and deflated) for the reader's tests.

Run with Debian's numpy:  /usr/bin/python3 testdata/make_npz.py
"""
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7.0
b = np.array([[1, -2], [3, 4]], dtype=np.int64)
os.makedirs(os.path.join(HERE, "npz"), exist_ok=True)
np.savez(os.path.join(HERE, "npz", "stored.npz"), images=a, labels=b)
np.savez_compressed(os.path.join(HERE, "npz", "deflated.npz"), images=a, labels=b)
