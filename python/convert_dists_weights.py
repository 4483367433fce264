"""Convert DISTS' learned alpha and beta from the `dists-pytorch==0.1` wheel to safetensors.

Usage: python convert_dists_weights.py WHEEL OUT_FILE

Reads `DISTS_pytorch/weights.pt` straight out of the wheel (a zip), refuses it
unless its sha256 is the pinned one, loads it with torch (an old-format torch
save: only torch reads it, hence this one-off conversion at setup) and writes
OUT_FILE with the two float32 tensors `alpha` and `beta`, each (1, 1475, 1, 1):
one weight per channel of the six DISTS stages (the image's 3, then VGG16's
64, 128, 256, 512, 512), unnormalised, exactly as the official `DISTS` module
holds them. The VGG16 trunk is not here: it is the one in vgg.safetensors.
"""

import hashlib
import io
import os
import sys
import zipfile

import torch
from safetensors.torch import save_file

MEMBER = "DISTS_pytorch/weights.pt"
SHA256 = "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218"
SHAPE = (1, 1475, 1, 1)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    wheel, out = sys.argv[1], sys.argv[2]
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(MEMBER)
    actual = hashlib.sha256(raw).hexdigest()
    if actual != SHA256:
        sys.exit(f"error: {MEMBER} has sha256 {actual}, expected {SHA256}")
    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    tensors = {}
    for name in ("alpha", "beta"):
        tensor = state[name].detach().to(torch.float32).contiguous()
        if tuple(tensor.shape) != SHAPE:
            sys.exit(f"error: {name} has shape {tuple(tensor.shape)}, expected {SHAPE}")
        tensors[name] = tensor
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    # Write then rename, so an interrupted run never leaves a file that looks converted.
    save_file(tensors, out + ".tmp")
    os.replace(out + ".tmp", out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
