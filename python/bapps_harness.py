"""The official BAPPS test harness (PerceptualSimilarity's
`test_dataset_model.py`) on a BAPPS-layout tree, for the app's conformance
test of the report.

    python bapps_harness.py WEIGHTS_DIR ROOT

For every `2afc/<split>/<category>/` and `jnd/<split>/<category>/` folder
under ROOT and every model the harness offers, prints one JSON line
`{"task": "2afc"|"jnd", "folder": "<split>/<category>", "metric": NAME,
"score": S, "count": N}`, NAME being Percept's name for that model:

    l2-rgb, l2-lab        lpips.Trainer(model='l2', colorspace='RGB'|'Lab')
    ssim-rgb, ssim-lab    lpips.Trainer(model='ssim', colorspace='RGB'|'Lab')
    lpips-alex, lpips-vgg lpips.Trainer(model='lpips', net=...), the package's own v0.1 linear layers
    lpips-alex-nolin, ... lpips.Trainer(model='baseline', net=...)

scored by `lpips.score_2afc_dataset` / `lpips.score_jnd_dataset` on the
official loaders (`bapps_loaders.py`), batch 1 for l2/ssim (as
`test_dataset_model.py` forces; their networks assert it) and 50 otherwise.
The trunks come from WEIGHTS_DIR's converted safetensors (torchvision cannot
download them here), loaded over `pnet_rand=True` networks.

One adaptation: `score_jnd_dataset` expects `func` to return one distance
per pair ("pytorch array of length N", its docstring), which `L2` and `DSSIM`
do; LPIPS returns shape (N, 1, 1, 1), and on that the scorer's `np.argsort`
sorts each length-1 row, ranking nothing. The LPIPS distances are therefore
passed flattened to the JND scorer (the 2AFC scorer flattens them itself).
"""

import json
import os
import sys

import torch
from safetensors.torch import load_file

import lpips
import lpips_official  # noqa: F401  (scikit-image's renamed compare_ssim, for lpips.dssim)
from bapps_loaders import DataLoader

MODELS = [
    ("l2-rgb", dict(model="l2", colorspace="RGB")),
    ("l2-lab", dict(model="l2", colorspace="Lab")),
    ("ssim-rgb", dict(model="ssim", colorspace="RGB")),
    ("ssim-lab", dict(model="ssim", colorspace="Lab")),
    ("lpips-alex", dict(model="lpips", net="alex")),
    ("lpips-vgg", dict(model="lpips", net="vgg")),
    ("lpips-alex-nolin", dict(model="baseline", net="alex")),
    ("lpips-vgg-nolin", dict(model="baseline", net="vgg")),
]


def trainer_for(weights_dir, settings):
    trainer = lpips.Trainer()
    network = settings["model"] in ("lpips", "baseline")
    trainer.initialize(**settings, use_gpu=False, pnet_rand=network)
    if network:
        net = settings["net"]
        trunk = {k: v for k, v in load_file(f"{weights_dir}/{net}.safetensors").items() if k.startswith("net.")}
        missing, unexpected = trainer.net.load_state_dict(trunk, strict=False)
        if unexpected or any(k.startswith("net.") for k in missing):
            sys.exit(f"error: trunk does not fit: missing {missing}, unexpected {unexpected}")
        trainer.net.eval()
    return trainer


def folders(root, task):
    top = os.path.join(root, task)
    if not os.path.isdir(top):
        return []
    return [
        f"{split}/{category}"
        for split in sorted(os.listdir(top))
        for category in sorted(os.listdir(os.path.join(top, split)))
    ]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    weights_dir, root = sys.argv[1:]
    torch.set_num_threads(1)
    for name, settings in MODELS:
        trainer = trainer_for(weights_dir, settings)
        network = settings["model"] in ("lpips", "baseline")
        batch_size = 50 if network else 1
        distance = (lambda a, b: trainer.forward(a, b).view(-1)) if network else trainer.forward
        with torch.no_grad():
            for task, scorer in (("2afc", lpips.score_2afc_dataset), ("jnd", lpips.score_jnd_dataset)):
                for folder in folders(root, task):
                    loader = DataLoader(os.path.join(root, task, folder), mode=task, batch_size=batch_size)
                    score, _ = scorer(loader, distance, name=f"{name} {task} {folder}")
                    line = {"task": task, "folder": folder, "metric": name, "score": float(score), "count": len(loader)}
                    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
