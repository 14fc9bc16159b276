"""The GPU validation's workload: ResNet-50 trained on synthetic data for a fixed time.

ResNet-50 is defined here (standard bottleneck architecture, He et al. 2015, as torchvision's
resnet50: 3-4-6-3 bottleneck blocks, stride on the 3x3 convolution) because the GPU machine may
lack torchvision. Synthetic data: one random batch kept on the device, so the run measures the
GPU, not a data loader.

Usage: train_resnet50.py [--seconds S] [--device cuda:0|cpu] [--batch N] [--image PX] [--tiny]
--tiny: a few seconds on the CPU with a small batch and image (CI, with the fake NVML); without
PyTorch it falls back to a pure-Python busy loop and says so.
"""

import argparse
import sys
import time


def build_resnet50(torch, num_classes=1000):
    nn = torch.nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, in_ch, width, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(width * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(64),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
            layers, in_ch = [], 64
            for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for i in range(blocks):
                    s = stride if i == 0 else 1
                    down = None
                    if s != 1 or in_ch != width * 4:
                        down = nn.Sequential(
                            nn.Conv2d(in_ch, width * 4, 1, stride=s, bias=False),
                            nn.BatchNorm2d(width * 4),
                        )
                    layers.append(Bottleneck(in_ch, width, s, down))
                    in_ch = width * 4
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))

    return ResNet50()


def busy_loop(seconds):
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += sum(i * i for i in range(1000))
    print(f"train_resnet50: no PyTorch; pure-Python busy loop for {seconds} s", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    if args.tiny:
        args.device, args.batch, args.image = "cpu", 2, 64
    try:
        import torch
    except ImportError:
        if not args.tiny:
            sys.exit("train_resnet50: PyTorch is needed for the GPU run")
        busy_loop(args.seconds)
        return

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_resnet50(torch).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(args.batch, 3, args.image, args.image, device=device)
    x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    amp = device.type == "cuda"

    start = time.monotonic()
    steps = 0
    while True:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        steps += 1
        # Check the clock every 10 steps on the GPU: a sync per step would idle the GPU.
        if device.type != "cuda" or steps % 10 == 0:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if time.monotonic() - start >= args.seconds:
                break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.monotonic() - start
    print(
        f"train_resnet50: {steps} steps of batch {args.batch} at {args.image}px on {device} in "
        f"{elapsed:.1f} s ({steps * args.batch / elapsed:.1f} images/s), loss {loss.item():.3f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
