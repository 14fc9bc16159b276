#!/usr/bin/python3
"""Train a small CNN on scikit-learn's handwritten digits, on CPU: jobcarbon's demo workload.

Run it with Debian's /usr/bin/python3 (python3-torch, python3-sklearn); the digits set (1797 8x8
images) ships inside scikit-learn, so nothing is downloaded.

    /usr/bin/python3 examples/train_digits.py [--epochs N] [--checkpoint PATH] [--threads N] [--quick]

Output (stdout, one line each, flushed as it happens):
    epoch E/N loss L train_acc A test_acc T samples S time Ts     after every epoch
    work: S samples                                               last line: training images
                                                                  (also written to the file named
                                                                  by $JOBCARBON_WORK_FILE, if set)
                                                                  processed by this process

Checkpointing, the pattern Slurm budget enforcement relies on: on SIGUSR1 or SIGTERM the script
finishes the batch in progress, saves model, optimizer, epoch, batch index and the epoch's running
totals to --checkpoint (written to a temporary file, then renamed, so a checkpoint is never torn),
prints "checkpoint saved to PATH" and exits with status 0. Started with an existing checkpoint it
prints "resumed from PATH at epoch E, batch B" and carries on; the result is bit-for-bit the same
as a run that was never interrupted (fixed seeds, per-epoch shuffles derived from the seed, no
dropout, deterministic algorithms, same thread count). A run that completes also saves its final
state there, so a requeued job that already finished does no work twice.
"""

import argparse
import os
import signal
import sys
import time

CHECKPOINT_FORMAT = 1
TEST_FRACTION = 0.2  # 360 of the 1797 images are held out for test accuracy

# Set by the signal handler; acted on at the next batch boundary so a checkpoint never holds a
# half-applied optimizer step. Installed before torch is imported (about 3 s), so a signal that
# arrives during start-up is honoured too instead of killing the process.
stop_signal = None


def on_stop_signal(signum, _frame):
    global stop_signal
    if stop_signal is None:
        stop_signal = signal.Signals(signum).name


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10, help="epochs to train in total (default 10)")
    p.add_argument("--checkpoint", default="./digits.ckpt",
                   help="checkpoint file: resumed from if present, written on SIGUSR1/SIGTERM "
                   "and at the end (default ./digits.ckpt)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch.set_num_threads (default 2)")
    p.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="tiny run for CI: one epoch (a few seconds including start-up)")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = 1
    if args.epochs < 0 or args.threads < 1 or args.batch_size < 1:
        p.error("--epochs must be >= 0, --threads and --batch-size >= 1")
    return args


def report_work(samples):
    """Print the work done, and tell jobcarbon (which names the file in JOBCARBON_WORK_FILE) so its
    report gives training images per kWh."""
    print(f"work: {samples} samples", flush=True)
    path = os.environ.get("JOBCARBON_WORK_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"{samples} training images\n")


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGUSR1, on_stop_signal)
    signal.signal(signal.SIGTERM, on_stop_signal)
    print(f"train_digits: pid {os.getpid()}, {args.epochs} epoch(s), {args.threads} thread(s); "
          "SIGUSR1/SIGTERM save a checkpoint", flush=True)

    # OpenMP threads that busy-wait between operators burn CPU (and so measured energy) for
    # nothing, and on a shared or oversubscribed machine they slowed an epoch here from 0.2 s to
    # 20 s. Must be set before torch loads the OpenMP runtime; a value the user set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from torch import nn
    from sklearn.datasets import load_digits

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    split = torch.randperm(len(labels), generator=torch.Generator().manual_seed(args.seed))
    n_test = int(len(labels) * TEST_FRACTION)
    test_idx, train_idx = split[:n_test], split[n_test:]
    x_train, y_train = images[train_idx], labels[train_idx]
    x_test, y_test = images[test_idx], labels[test_idx]

    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 4 x 4
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")

    # Position: the next (epoch, batch) to run, both 0-based, and the running totals of that epoch.
    epoch, batch = 0, 0
    totals = {"loss": 0.0, "correct": 0, "seen": 0}
    config = {"seed": args.seed, "batch_size": args.batch_size, "format": CHECKPOINT_FORMAT}

    if os.path.exists(args.checkpoint):
        try:
            state = torch.load(args.checkpoint, map_location="cpu")
            saved = state["config"]
            if saved != config:
                raise ValueError(f"saved with {saved}, this run uses {config}")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            epoch, batch, totals = state["epoch"], state["batch"], state["totals"]
        except Exception as e:  # a torn or foreign file: say which and stop, never train from 0
            print(f"train_digits: cannot resume from {args.checkpoint}: {e}", file=sys.stderr)
            return 2
        if epoch >= args.epochs:
            print(f"resumed from {args.checkpoint} at epoch {epoch}: training already complete "
                  f"({epoch} of {args.epochs} epochs); nothing to do", flush=True)
            report_work(0)
            return 0
        print(f"resumed from {args.checkpoint} at epoch {epoch + 1}, batch {batch}", flush=True)

    def save_checkpoint():
        tmp = args.checkpoint + ".tmp"
        os.makedirs(os.path.dirname(os.path.abspath(args.checkpoint)), exist_ok=True)
        torch.save({"config": config, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "epoch": epoch, "batch": batch,
                    "totals": totals}, tmp)
        os.replace(tmp, args.checkpoint)
        print(f"checkpoint saved to {args.checkpoint}", flush=True)

    def test_accuracy():
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        model.train()
        return acc

    work = 0  # training images processed by this process (not by the run it resumed)
    n_batches = (len(y_train) + args.batch_size - 1) // args.batch_size
    while epoch < args.epochs:
        started = time.monotonic()
        # The shuffle depends only on seed and epoch, so a resumed epoch sees the same batches.
        order = torch.randperm(len(y_train),
                               generator=torch.Generator().manual_seed(args.seed * 100003 + epoch))
        while batch < n_batches:
            if stop_signal is not None:
                print(f"{stop_signal} received: stopping at epoch {epoch + 1}, batch {batch}",
                      flush=True)
                save_checkpoint()
                report_work(work)
                return 0
            idx = order[batch * args.batch_size:(batch + 1) * args.batch_size]
            x, y = x_train[idx], y_train[idx]
            optimizer.zero_grad()
            out = model(x)
            loss = loss_fn(out, y)
            (loss / len(y)).backward()
            optimizer.step()
            totals["loss"] += loss.item()
            totals["correct"] += int((out.argmax(1) == y).sum().item())
            totals["seen"] += len(y)
            work += len(y)
            batch += 1
        print(f"epoch {epoch + 1}/{args.epochs} loss {totals['loss'] / totals['seen']:.6f} "
              f"train_acc {totals['correct'] / totals['seen']:.4f} "
              f"test_acc {test_accuracy():.4f} samples {totals['seen']} "
              f"time {time.monotonic() - started:.2f}s", flush=True)
        epoch, batch = epoch + 1, 0
        totals = {"loss": 0.0, "correct": 0, "seen": 0}
    save_checkpoint()
    report_work(work)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
