"""piq 0.8 as the reference for the `metrics` crate's tests and bench.

Every image pair is (reference, distorted), 8-bit RGB, handed to piq as
`x / 255` with `data_range=1.0` — for GMSD and MS-SSIM as MATLAB's
`rgb2gray` levels (one channel), the input of the authors' published values
that the crate follows; values are printed as the distances
Percept stores: 1 - FSIM, 1 - FSIMc, 1 - MS-SSIM, GMSD, 1 - VIFp (VIF's
reference is piq's `y`).

    python piq_reference.py distances PAIRS_CSV OUT_CSV
        PAIRS_CSV lines are `reference,distorted` image paths. OUT_CSV gets a
        header and, per line, the two paths and each metric's distance
        (empty where piq refuses the size: MS-SSIM under 161x161). piq runs
        in float64 here: in float32 its variances (E[x^2] - mu^2 at the
        0-255 scale) cancel badly enough to move VIF by up to 8e-4 on smooth
        pairs, so float32 piq is no 1e-4 reference; float64 piq is.

    python piq_reference.py bench PATCHES_RAW COUNT SIDE BATCHES THREADS ROUNDS
        PATCHES_RAW holds COUNT*2 SIDE x SIDE RGB patches (uint8, HWC) in
        (reference, distorted) order. Prints one JSON line per metric and
        batch size in the comma-separated BATCHES: pairs per second of wall
        clock and of process CPU time, each the best of ROUNDS, with THREADS
        torch threads.
"""

import csv
import json
import sys
import time

import numpy as np
import piq
import torch
from PIL import Image


def matlab_gray(x):
    """MATLAB's `rgb2gray` on 8-bit levels (rounded half away from zero), for
    (N, 3, H, W) tensors of levels / 255; returns (N, 1, H, W)."""
    levels = torch.round(x * 255)
    r, g, b = levels[:, 0:1].double(), levels[:, 1:2].double(), levels[:, 2:3].double()
    gray = torch.floor(0.298936021293776 * r + 0.587043074451121 * g + 0.114020904255103 * b + 0.5)
    return (gray / 255).to(x.dtype)


def unchanged(x):
    return x


# Per metric: the input piq gets from (N, 3, H, W) tensors of levels / 255,
# piq's call (reference, distorted), and whether Percept stores 1 - value.
PIQ = {
    "fsim": (unchanged, lambda ref, dist: piq.fsim(dist, ref, data_range=1.0, chromatic=False, reduction="none"), True),
    "fsimc": (unchanged, lambda ref, dist: piq.fsim(dist, ref, data_range=1.0, chromatic=True, reduction="none"), True),
    "ms-ssim": (matlab_gray, lambda ref, dist: piq.multi_scale_ssim(dist, ref, data_range=1.0, reduction="none"), True),
    "gmsd": (matlab_gray, lambda ref, dist: piq.gmsd(dist, ref, data_range=1.0, reduction="none"), False),
    "vif": (unchanged, lambda ref, dist: piq.vif_p(dist, ref, data_range=1.0, reduction="none"), True),
}
MS_SSIM_MIN_SIDE = 161


def to_tensor(levels, dtype=torch.float32):
    """(N, H, W, 3) uint8 -> (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(levels)).permute(0, 3, 1, 2).to(dtype) / 255.0


def load(path):
    return np.asarray(Image.open(path).convert("RGB"))


def distances(pairs_csv, out_csv):
    torch.set_num_threads(1)
    with open(pairs_csv) as f:
        pairs = [line.strip().split(",") for line in f if line.strip()]
    with open(out_csv, "w", newline="") as out, torch.no_grad():
        writer = csv.writer(out)
        writer.writerow(["reference", "distorted"] + list(PIQ))
        for ref_path, dist_path in pairs:
            ref = to_tensor(load(ref_path)[None], torch.float64)
            dist = to_tensor(load(dist_path)[None], torch.float64)
            row = []
            for name, (prepare, metric, complement) in PIQ.items():
                if name == "ms-ssim" and min(ref.shape[-2:]) < MS_SSIM_MIN_SIDE:
                    row.append("")
                    continue
                value = float(metric(prepare(ref), prepare(dist))[0])
                row.append(repr(1 - value if complement else value))
            writer.writerow([ref_path, dist_path] + row)


def bench(patches_raw, count, side, metrics, batches, threads, rounds):
    torch.set_num_threads(threads)
    raw = np.fromfile(patches_raw, dtype=np.uint8).reshape(count, 2, side, side, 3)
    with torch.no_grad():
        for name in metrics:
            prepare, metric, _ = PIQ[name]
            ref, dist = prepare(to_tensor(raw[:, 0])), prepare(to_tensor(raw[:, 1]))
            metric(ref[:2], dist[:2])  # warm-up
            best = {batch: (0.0, 0.0) for batch in batches}
            # Best of several rounds: on a shared machine a burst of other
            # work only ever slows a round down. Wall-clock and CPU time
            # (the process's, which is what a busy machine leaves comparable).
            for _ in range(rounds):
                for batch in batches:
                    wall, cpu = time.perf_counter(), time.process_time()
                    for i in range(0, count, batch):
                        metric(ref[i : i + batch], dist[i : i + batch])
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    best[batch] = tuple(max(b, count / t) for b, t in zip(best[batch], (wall, cpu)))
            for batch, (wall, cpu) in best.items():
                line = {"metric": name, "batch": batch, "pairs_per_s": wall, "pairs_per_cpu_s": cpu}
                print(json.dumps(line), flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "distances" and len(sys.argv) == 4:
        distances(*sys.argv[2:4])
    elif mode == "bench" and len(sys.argv) == 9:
        patches_raw, count, side, metrics, batches, threads, rounds = sys.argv[2:9]
        batch_sizes = [int(b) for b in batches.split(",")]
        bench(patches_raw, int(count), int(side), metrics.split(","), batch_sizes, int(threads), int(rounds))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
