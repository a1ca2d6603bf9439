#!/usr/bin/python3
"""Train the small Fashion-MNIST models Dyad tests on, export them to ONNX, record accuracy.

Run with Debian's torch:  /usr/bin/python3 testdata/make_models.py
Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) and writes
testdata/models/<name>.onnx, testdata/models/accuracy.json and a few real input batches
under testdata/fmnist/. CI never runs this: the outputs are committed, so CI needs no torch.
The models are small on purpose (seconds per epoch on 2 cores) but each exercises the ops
a real network of its family uses.
"""
import gzip, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530          # Fashion-MNIST train-set pixel mean and std
torch.manual_seed(0)
np.random.seed(0)
torch.set_num_threads(os.cpu_count() or 1)


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def normalise(images_u8):
    return ((images_u8.astype(np.float32) / 255.0 - MEAN) / STD)[:, None, :, :]


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.avg_pool2d(F.relu(self.c2(x)), 2)
        x = torch.flatten(x, 1)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNetSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(),
            nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(),
            nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.body(x) if self.use_res else self.body(x)


class MobileNetV2Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 1), InvertedResidual(16, 24, 2, 4), InvertedResidual(24, 24, 1, 4),
            InvertedResidual(24, 32, 2, 4), InvertedResidual(32, 32, 1, 4))
        self.head = nn.Sequential(nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6())
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class HardSwishBlock(nn.Module):
    # MobileNetV3's inverted residual without squeeze-excite: hard-swish after the expansion and
    # after the depthwise conv, whose output therefore reaches the projection only through a
    # nonlinearity (what Dyad's per-channel pre-activation tables are for).
    def __init__(self, cin, cout, kernel, stride, expand):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.Hardswish(),
            nn.Conv2d(hid, hid, kernel, stride, kernel // 2, groups=hid, bias=False), nn.BatchNorm2d(hid), nn.Hardswish(),
            nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.body(x) if self.use_res else self.body(x)


class MobileNetV3Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(
            HardSwishBlock(16, 16, 3, 1, 1), HardSwishBlock(16, 24, 5, 2, 4), HardSwishBlock(24, 24, 5, 1, 3),
            HardSwishBlock(24, 32, 3, 2, 4), HardSwishBlock(32, 32, 5, 1, 3))
        self.head = nn.Sequential(nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), nn.Hardswish())
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Attention(nn.Module):
    """Written out (no nn.MultiheadAttention) so the export holds plain MatMul + Softmax."""
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, n, d))


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.n1, self.att, self.n2 = nn.LayerNorm(dim), Attention(dim, heads), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.att(self.n1(x))
        return x + self.mlp(self.n2(x))


class ViTTiny(nn.Module):
    def __init__(self, dim=64, depth=2, heads=4, patch=4):
        super().__init__()
        self.embed = nn.Conv2d(1, dim, patch, patch)
        self.pos = nn.Parameter(torch.zeros(1, (28 // patch) ** 2, dim))
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads) for _ in range(depth)])
        self.norm, self.fc = nn.LayerNorm(dim), nn.Linear(dim, 10)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        x = self.norm(self.blocks(x))
        return self.fc(x.mean(dim=1))


MODELS = {  # name: (constructor, epochs, learning rate)
    "mlp": (MLP, 4, 1e-3),
    "lenet": (LeNet, 5, 1e-3),
    "resnet_small": (ResNetSmall, 5, 2e-3),
    "mobilenet_v2_small": (MobileNetV2Small, 5, 2e-3),
    "mobilenet_v3_small": (MobileNetV3Small, 4, 2e-3),
    "vit_tiny": (ViTTiny, 8, 1e-3),
}


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean()) * 100.0


def train(name, x_train, y_train, x_test, y_test):
    ctor, epochs, lr = MODELS[name]
    torch.manual_seed(0)
    model = ctor()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(x_train) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(0)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(x_train) - 127, 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"{name}: epoch {epoch + 1}/{epochs} loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    acc = accuracy(model, x_test, y_test)
    print(f"{name}: float test accuracy {acc:.2f}%", flush=True)
    model.eval()
    path = os.path.join(HERE, "models", name + ".onnx")
    # PRESERVE keeps BatchNormalization nodes (EVAL would fuse them into the convs at export),
    # so Dyad's own BatchNorm folding has real work to do on resnet_small and mobilenet_v2_small.
    torch.onnx.export(model, x_test[:1], path, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    return acc


def main():
    names = sys.argv[1:] or list(MODELS)
    x_train = torch.from_numpy(normalise(read_idx("train-images-idx3-ubyte.gz")))
    y_train = torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    test_u8 = read_idx("t10k-images-idx3-ubyte.gz")
    x_test = torch.from_numpy(normalise(test_u8))
    y_test = torch.from_numpy(read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    os.makedirs(os.path.join(HERE, "models"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "fmnist"), exist_ok=True)
    # Real inputs for tests and the README example: the first 64 test images, normalised.
    np.save(os.path.join(HERE, "fmnist", "test_64.npy"), normalise(test_u8[:64]))
    np.save(os.path.join(HERE, "fmnist", "test_64_labels.npy"), y_test[:64].numpy())
    acc_path = os.path.join(HERE, "models", "accuracy.json")
    record = json.load(open(acc_path)) if os.path.exists(acc_path) else {}
    for name in names:
        record[name] = {"float_top1_percent": round(train(name, x_train, y_train, x_test, y_test), 2),
                        "test_images": len(y_test), "torch": torch.__version__}
        with open(acc_path, "w") as f:
            json.dump(record, f, indent=2, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
