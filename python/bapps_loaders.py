"""The BAPPS loaders of the official PerceptualSimilarity repository
(`data/dataset/twoafc_dataset.py`, `data/dataset/jnd_dataset.py`,
`data/image_folder.py`, `data/custom_dataset_data_loader.py`), which the
`lpips` package on PyPI does not ship.

Equivalent in what reaches the scorers: files of each folder listed by
`make_dataset` (images by extension, `.npy` for judgments) and sorted, paired
across folders by position; `Resize(64)` (a no-op on 64×64 patches) then
`ToTensor` and `Normalize(0.5, 0.5)` in float32, so levels reach the
metrics in [-1, 1]; the `judge`/`same` shares reshaped to (1, 1, 1) as a
float32 `torch.FloatTensor`; `DataLoader` in file order (`serial_batches`).
"""

import os

import numpy as np
import torch
import torchvision.transforms as transforms
from PIL import Image

IMG_EXTENSIONS = [".jpg", ".JPG", ".jpeg", ".JPEG", ".png", ".PNG", ".ppm", ".PPM", ".bmp", ".BMP"]
NP_EXTENSIONS = [".npy"]


def make_dataset(folder, mode="img"):
    extensions = IMG_EXTENSIONS if mode == "img" else NP_EXTENSIONS
    assert os.path.isdir(folder), f"{folder} is not a valid directory"
    paths = []
    for root, _, names in sorted(os.walk(folder)):
        paths += [os.path.join(root, name) for name in names if any(name.endswith(e) for e in extensions)]
    return sorted(paths)


def _transform(load_size):
    return transforms.Compose(
        [
            transforms.Resize(load_size),
            transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ]
    )


def _share(path):
    return torch.FloatTensor(np.load(path).reshape((1, 1, 1)))


class TwoAFCDataset(torch.utils.data.Dataset):
    def __init__(self, root, load_size=64):
        self.ref, self.p0, self.p1 = (make_dataset(os.path.join(root, s)) for s in ("ref", "p0", "p1"))
        self.judge = make_dataset(os.path.join(root, "judge"), mode="np")
        self.transform = _transform(load_size)

    def __len__(self):
        return len(self.p0)

    def __getitem__(self, index):
        image = lambda paths: self.transform(Image.open(paths[index]).convert("RGB"))
        return {"ref": image(self.ref), "p0": image(self.p0), "p1": image(self.p1), "judge": _share(self.judge[index])}


class JNDDataset(torch.utils.data.Dataset):
    def __init__(self, root, load_size=64):
        self.p0, self.p1 = (make_dataset(os.path.join(root, s)) for s in ("p0", "p1"))
        self.same = make_dataset(os.path.join(root, "same"), mode="np")
        self.transform = _transform(load_size)

    def __len__(self):
        return len(self.p0)

    def __getitem__(self, index):
        image = lambda paths: self.transform(Image.open(paths[index]).convert("RGB"))
        return {"p0": image(self.p0), "p1": image(self.p1), "same": _share(self.same[index])}


class DataLoader:
    """`CustomDatasetDataLoader`: what the official scorers and train.py
    take, `load_data()` giving the batches."""

    def __init__(self, root, mode="2afc", batch_size=1, shuffle=False):
        dataset = TwoAFCDataset(root) if mode == "2afc" else JNDDataset(root)
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)

    def load_data(self):
        return self.loader

    def __len__(self):
        return len(self.loader.dataset)
