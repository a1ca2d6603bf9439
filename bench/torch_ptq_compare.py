#!/usr/bin/python3
"""Dyad W8A8 against PyTorch's own post-training INT8 quantization (torch.ao FX, onednn backend).

Same models (testdata/models, weights loaded back into testdata/make_models.py's definitions),
same 500 calibration images (the first 500 of Fashion-MNIST's train split), same 10,000 test
images. Prints float, torch.ao FX PTQ and Dyad integer-only top-1 for each model.

Needs Debian's python3-torch (not a dependency of Dyad; a benchmark peer) and a build:
    cmake --build build && /usr/bin/python3 bench/torch_ptq_compare.py [model ...]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "testdata"))
import make_models  # noqa: E402  (the model definitions)

BIN = os.path.join(ROOT, "build", "bin")


def load_weights(name, model, folder):
    """ONNX initializers back into the module: names match the state dict, except the Linear
    weights PyTorch exports as MatMul (transposed, named onnx::MatMul_<n> in call order)."""
    subprocess.run([os.path.join(BIN, "export_initializers"), os.path.join(ROOT, "testdata", "models", name + ".onnx"), folder],
                   check=True)
    files = dict(line.split(" ", 1)[::-1] for line in open(os.path.join(folder, "names.txt")).read().splitlines())
    bn_bias = dict(line.split(" ") for line in open(os.path.join(folder, "batchnorm.txt")).read().splitlines())
    state = model.state_dict()
    matmuls = sorted((n for n in files if n.startswith("onnx::MatMul_")), key=lambda n: int(n.split("_")[-1]))
    missing = []
    for key in state:
        source = key
        if key not in files and key.endswith(".bias") and key[:-5] + ".weight" in bn_bias:
            source = bn_bias[key[:-5] + ".weight"]  # a BatchNorm bias shared under another name
        if source in files:
            state[key] = torch.from_numpy(np.load(os.path.join(folder, files[source]))).reshape(state[key].shape)
        elif key.endswith("num_batches_tracked"):
            continue
        else:
            missing.append(key)
    linear_weights = [k for k in missing if k.endswith(".weight")]
    if len(linear_weights) != len(matmuls) or len(missing) != len(linear_weights):
        raise SystemExit(f"{name}: cannot map weights: {missing} vs {matmuls}")
    for key, onnx_name in zip(linear_weights, matmuls):
        state[key] = torch.from_numpy(np.load(os.path.join(folder, files[onnx_name]))).t().contiguous()
    model.load_state_dict(state)
    return model.eval()


def fx_traceable_attention(self, x):
    """make_models.Attention.forward without tuple-unpacking x.shape, which torch.fx cannot trace."""
    b, n, d = x.size(0), x.size(1), x.size(2)
    qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
    return self.proj((att @ v).transpose(1, 2).reshape(b, n, d))


make_models.Attention.forward = fx_traceable_attention


def top1(logits, labels):
    return float((np.asarray(logits).argmax(1) == labels).mean()) * 100.0


def torch_ptq(model, calib):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "onednn"
    prepared = prepare_fx(model, get_default_qconfig_mapping("onednn"), (calib[:1],))
    with torch.no_grad():
        for i in range(0, len(calib), 100):
            prepared(calib[i:i + 100])
    return convert_fx(prepared)


def run_dyad(name, calib_file, test_file, folder):
    out = os.path.join(folder, name + ".int8.onnx")
    subprocess.run([os.path.join(BIN, "compress"), os.path.join(ROOT, "testdata", "models", name + ".onnx"), "--budget", "bits=8",
                    "--calib", calib_file, "-o", out], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(BIN, "compress"), "run", out, "-i", test_file, "-o", os.path.join(folder, name + "_out")],
                   check=True, stdout=subprocess.DEVNULL)
    return np.load(os.path.join(folder, name + "_out", "logits.npy"))


def main():
    names = sys.argv[1:] or list(make_models.MODELS)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x_train = make_models.normalise(make_models.read_idx("train-images-idx3-ubyte.gz")[:500])
    x_test = make_models.normalise(make_models.read_idx("t10k-images-idx3-ubyte.gz"))
    y_test = make_models.read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    calib, test = torch.from_numpy(x_train), torch.from_numpy(x_test)
    print(f"torch {torch.__version__}, engine onednn; calibration: 500 train images; test: {len(y_test)} images")
    print(f"{'model':20s} {'float':>8s} {'torch.ao FX':>12s} {'Dyad W8A8':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        calib_file, test_file = os.path.join(tmp, "calib.npy"), os.path.join(tmp, "test.npy")
        np.save(calib_file, x_train)
        np.save(test_file, x_test)
        for name in names:
            model = load_weights(name, make_models.MODELS[name][0](), os.path.join(tmp, name))
            with torch.no_grad():
                float_logits = torch.cat([model(test[i:i + 1000]) for i in range(0, len(test), 1000)])
                quantized = torch_ptq(model, calib)
                torch_logits = torch.cat([quantized(test[i:i + 1000]) for i in range(0, len(test), 1000)])
            dyad_logits = run_dyad(name, calib_file, test_file, tmp)
            print(f"{name:20s} {top1(float_logits, y_test):7.2f}% {top1(torch_logits, y_test):11.2f}% {top1(dyad_logits, y_test):9.2f}%",
                  flush=True)


if __name__ == "__main__":
    main()
