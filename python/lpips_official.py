"""The official `lpips` package as a reference for the `lpips` crate's tests and bench.

The backbone weights come from the converted safetensors (torchvision cannot
download them here); the linear layers from the same file, which holds the
official v0.1 ones.

    python lpips_official.py distances WEIGHTS_DIR PAIRS_CSV OUT_CSV
        PAIRS_CSV lines are `image_a,image_b`. OUT_CSV gets, per line, the
        official LPIPS distance for alex and vgg with and without lin, the
        mean and maximum of the alex spatial map, the l2/dssim baselines (RGB
        and Lab) as the official harness computes them (its `L2` and `DSSIM`
        networks on tensors made as the BAPPS loaders make them) and psnr.

    python lpips_official.py bench WEIGHTS_DIR NET PATCHES_RAW COUNT SIDE BATCHES THREADS ROUNDS
        PATCHES_RAW holds COUNT*3 SIDE x SIDE RGB patches (uint8, HWC), in
        (ref, p0, p1) triplet order. Prints one JSON line per batch size in
        the comma-separated BATCHES: triplets per second at that batch size,
        each triplet costing the two pair evaluations the official API needs.
"""

import csv
import json
import sys
import time

import numpy as np
import skimage.measure
import torch
from safetensors.torch import load_file
from skimage.metrics import structural_similarity

import lpips
from torchvision import transforms

# lpips.dssim imports `compare_ssim`, which scikit-image renamed; the
# replacement has the same defaults.
skimage.measure.compare_ssim = lambda a, b, data_range, multichannel: structural_similarity(
    a, b, data_range=data_range, channel_axis=-1 if multichannel else None
)

CONFIGS = [("alex", True), ("alex", False), ("vgg", True), ("vgg", False)]

# The BAPPS loaders' conversion (PerceptualSimilarity `data/dataset/*_dataset.py`):
# float32 `ToTensor` then `Normalize(0.5, 0.5)`, batch of one.
LOADER = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])


def harness_baselines(a, b):
    """l2_rgb, l2_lab, dssim_rgb, dssim_lab of `lpips.Trainer(model='l2'|'ssim')`."""
    # `lpips.load_image` flips BGR to RGB by a negative stride; the loaders
    # read with PIL, whose arrays are contiguous.
    ta, tb = (LOADER(np.ascontiguousarray(x))[None] for x in (a, b))
    return [
        float(lpips.L2(use_gpu=False, colorspace="RGB")(ta, tb)),
        float(lpips.L2(use_gpu=False, colorspace="Lab")(ta, tb)),
        float(lpips.DSSIM(use_gpu=False, colorspace="RGB")(ta, tb)),
        float(lpips.DSSIM(use_gpu=False, colorspace="Lab")(ta, tb)),
    ]


def official_model(weights_dir, net, lin, spatial=False):
    model = lpips.LPIPS(net=net, lpips=lin, spatial=spatial, pnet_rand=True, verbose=False)
    state = load_file(f"{weights_dir}/{net}.safetensors")
    if not lin:
        state = {k: v for k, v in state.items() if not k.startswith("lin")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # `lins.K` aliases `linK`; the scaling layer is built in.
    not_loaded = [k for k in missing if not k.startswith(("scaling_layer.", "lins."))]
    if not_loaded or unexpected:
        sys.exit(f"error: weights do not fit the official model: missing {not_loaded}, unexpected {unexpected}")
    return model.eval()


def distances(weights_dir, pairs_csv, out_csv):
    # One thread: on a busy machine, intra-op threads waiting on each other
    # make small convolutions many times slower.
    torch.set_num_threads(1)
    models = {config: official_model(weights_dir, *config) for config in CONFIGS}
    spatial_model = official_model(weights_dir, "alex", True, spatial=True)
    with open(pairs_csv) as f:
        pairs = [line.strip().split(",") for line in f if line.strip()]
    header = [f"{net}_{'lin' if lin else 'sum'}" for net, lin in CONFIGS]
    header += ["alex_lin_map_mean", "alex_lin_map_max", "l2_rgb", "l2_lab", "dssim_rgb", "dssim_lab", "psnr"]
    with open(out_csv, "w", newline="") as out, torch.no_grad():
        writer = csv.writer(out)
        writer.writerow(["a", "b"] + header)
        for a_path, b_path in pairs:
            a, b = lpips.load_image(a_path), lpips.load_image(b_path)
            ta, tb = lpips.im2tensor(a), lpips.im2tensor(b)
            row = [float(models[c](ta, tb).item()) for c in CONFIGS]
            distance_map = spatial_model(ta, tb)
            row += [float(distance_map.mean()), float(distance_map.max())]
            row += harness_baselines(a, b) + [float(lpips.psnr(a, b))]
            writer.writerow([a_path, b_path] + [repr(v) for v in row])


def bench(weights_dir, net, patches_raw, count, side, batches, threads, rounds):
    torch.set_num_threads(threads)
    model = official_model(weights_dir, net, True)
    raw = np.fromfile(patches_raw, dtype=np.uint8).reshape(count, 3, side, side, 3)
    # The official im2tensor, done for all patches up front so that only the
    # network is timed.
    tensors = torch.from_numpy((raw.transpose(0, 1, 4, 2, 3) / 127.5 - 1.0).astype(np.float32))
    ref, p0, p1 = tensors[:, 0], tensors[:, 1], tensors[:, 2]
    with torch.no_grad():
        model(ref[:2], p0[:2])  # warm-up
        best = {batch: 0.0 for batch in batches}
        # Best of several rounds: on a shared machine a burst of other work
        # only ever slows a round down.
        for _ in range(rounds):
            for batch in batches:
                start = time.perf_counter()
                for i in range(0, count, batch):
                    model(ref[i : i + batch], p0[i : i + batch])
                    model(ref[i : i + batch], p1[i : i + batch])
                best[batch] = max(best[batch], count / (time.perf_counter() - start))
        for batch in batches:
            print(json.dumps({"batch": batch, "triplets_per_s": best[batch]}), flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "distances" and len(sys.argv) == 5:
        distances(*sys.argv[2:5])
    elif mode == "bench" and len(sys.argv) == 10:
        weights_dir, net, patches_raw, count, side, batches, threads, rounds = sys.argv[2:10]
        batch_sizes = [int(b) for b in batches.split(",")]
        bench(weights_dir, net, patches_raw, int(count), int(side), batch_sizes, int(threads), int(rounds))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
