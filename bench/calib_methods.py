#!/usr/bin/python3
"""Accuracy of each calibration method, the table in README.md ("Calibration: which clipping").

For each Fashion-MNIST model: `compress --calib-method M --bias-correction on` calibrated on the
first 500 training images, top-1 on the 10,000 test images. For PP-OCRv4 recognition (if
installed): calibrated on testdata/ocr/lines/calib, the number of the 40 evaluation lines whose
CTC-greedy string equals the float model's. Needs a build and numpy (/usr/bin/python3).

    /usr/bin/python3 bench/calib_methods.py
"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "testdata"))
import make_models  # noqa: E402  (the Fashion-MNIST readers)

COMPRESS = os.path.join(ROOT, "build", "bin", "compress")
METHODS = ["minmax", "percentile", "mse", "entropy"]
REC = os.path.join(os.environ.get("DYAD_CACHE", os.path.expanduser("~/.cache/dyad")), "ocr-models", "node_modules",
                   "@gutenye", "ocr-models", "assets", "ch_PP-OCRv4_rec_infer.onnx")
REC_PREPROCESS = "fit=48x320,mean=0.5,std=0.5"


def run(args):
    subprocess.run([COMPRESS] + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def outputs(model, inputs, folder):
    run(["run", model, "-i", inputs, "-o", folder])
    return np.load(glob.glob(os.path.join(folder, "*.npy"))[0])


def ctc(scores):
    texts = []
    for row in scores.argmax(-1):
        out, previous = [], -1
        for k in row:
            if k != previous and k != 0:
                out.append(int(k))
            previous = k
        texts.append(tuple(out))
    return texts


def main():
    with tempfile.TemporaryDirectory() as tmp:
        calib, test = os.path.join(tmp, "calib.npy"), os.path.join(tmp, "test.npy")
        np.save(calib, make_models.normalise(make_models.read_idx("train-images-idx3-ubyte.gz")[:500]))
        np.save(test, make_models.normalise(make_models.read_idx("t10k-images-idx3-ubyte.gz")))
        labels = make_models.read_idx("t10k-labels-idx1-ubyte.gz")
        print("| model | " + " | ".join(METHODS) + " |")
        print("| --- |" + " --- |" * len(METHODS))
        for name in make_models.MODELS:
            row = []
            for m in METHODS:
                out = os.path.join(tmp, f"{name}.{m}.onnx")
                run([os.path.join(ROOT, "testdata", "models", name + ".onnx"), "--budget", "bits=8", "--calib", calib,
                     "--calib-method", m, "--bias-correction", "on", "-o", out])
                row.append("%.2f" % (100.0 * (outputs(out, test, os.path.join(tmp, "o")).argmax(1) == labels).mean()))
            print(f"| {name} | " + " | ".join(row) + " |", flush=True)
        if not os.path.exists(REC):
            return
        # The evaluation lines, preprocessed by the loader compress calibrates with.
        lines = os.path.join(ROOT, "testdata", "ocr", "lines")
        evaluation = os.path.join(tmp, "eval.npy")
        subprocess.run([os.path.join(ROOT, "build", "bin", "export_images"), REC, os.path.join(lines, "eval"), REC_PREPROCESS,
                        evaluation], check=True)
        reference = ctc(outputs(REC, evaluation, os.path.join(tmp, "f")))
        row = []
        for m in METHODS:
            out = os.path.join(tmp, f"rec.{m}.onnx")
            run([REC, "--budget", "bits=8", "--calib", os.path.join(lines, "calib"), "--preprocess", REC_PREPROCESS,
                 "--calib-method", m, "--bias-correction", "on", "-o", out])
            row.append(str(sum(a == b for a, b in zip(reference, ctc(outputs(out, evaluation, os.path.join(tmp, "q")))))))
        print("| PP-OCRv4 rec (strings equal to float, of 40) | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
