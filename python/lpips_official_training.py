"""The official `lpips` trainer as a reference for the `lpips` crate's training tests and bench.

The trunk comes from the converted safetensors (torchvision cannot download
it here): the trainer is built with `pnet_rand=True` and the trunk loaded
over it, which leaves everything else as `lpips.Trainer(is_train=True)`
makes it (random linear layers, dropout, G, Adam).

    python lpips_official_training.py step WEIGHTS_DIR NET MODE BATCH_RAW COUNT SIDE JUDGES_CSV SEED OUT_DIR
        One optimiser step of the official trainer, dropout off, on COUNT
        triplets (BATCH_RAW: uint8 (COUNT, 3, SIDE, SIDE, 3), ref/p0/p1 order;
        JUDGES_CSV: one judge per line). Writes OUT_DIR/initial.safetensors
        (trunk, lin*, rank.*), OUT_DIR/updated.safetensors and prints
        {"loss": L}.

    python lpips_official_training.py train WEIGHTS_DIR NET MODE DATAROOT EPOCHS DECAY_EPOCHS THREADS OUT_FILE
        Trains as the official train.py does (batch 50, shuffled, CPU) on the
        BAPPS-layout folder DATAROOT (ref/ p0/ p1/ judge/), saves the LPIPS
        state dict (net.*, lin*) to OUT_FILE and prints {"seconds": S}.

    python lpips_official_training.py score WEIGHTS_FILE NET DATAROOT THREADS
        The official score_2afc_dataset of the weights on a BAPPS-layout
        folder; prints {"score": S}.

    python lpips_official_training.py distances WEIGHTS_FILE NET PAIRS_CSV OUT_CSV
        Loads the weights with load_state_dict and writes one distance per
        `image_a,image_b` line.
"""

import json
import os
import sys
import time

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import lpips
from bapps_loaders import DataLoader

BATCH_SIZE = 50


def trainer_for(weights_dir, net, mode):
    trainer = lpips.Trainer()
    trainer.initialize(
        model="lpips", net=net, is_train=True, pnet_rand=True, pnet_tune=mode != "lin", use_gpu=False
    )
    if mode != "scratch":
        trunk = {k: v for k, v in load_file(f"{weights_dir}/{net}.safetensors").items() if k.startswith("net.")}
        missing, unexpected = trainer.net.load_state_dict(trunk, strict=False)
        if unexpected or any(k.startswith("net.") for k in missing):
            sys.exit(f"error: trunk does not fit: missing {missing}, unexpected {unexpected}")
    return trainer


def lpips_state(model):
    """The official names without the `lins.K` aliases of `linK`."""
    return {
        k: v.detach().clone().contiguous()
        for k, v in model.state_dict().items()
        if k.startswith("net.") or k.startswith("lin") and not k.startswith("lins.")
    }


def full_state(trainer):
    state = lpips_state(trainer.net)
    state.update({f"rank.{k}": v.detach().clone().contiguous() for k, v in trainer.rankLoss.net.state_dict().items()})
    return state


def step(weights_dir, net, mode, batch_raw, count, side, judges_csv, seed, out_dir):
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    trainer = trainer_for(weights_dir, net, mode)
    for module in trainer.net.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    save_file(full_state(trainer), os.path.join(out_dir, "initial.safetensors"))
    raw = np.fromfile(batch_raw, dtype=np.uint8).reshape(count, 3, side, side, 3)
    tensors = torch.from_numpy((raw.transpose(0, 1, 4, 2, 3) / 127.5 - 1.0).astype(np.float32))
    with open(judges_csv) as f:
        judges = [float(line) for line in f if line.strip()]
    trainer.set_input(
        {
            "ref": tensors[:, 0],
            "p0": tensors[:, 1],
            "p1": tensors[:, 2],
            "judge": torch.tensor(judges, dtype=torch.float32).view(-1, 1, 1, 1),
        }
    )
    trainer.optimize_parameters()
    save_file(full_state(trainer), os.path.join(out_dir, "updated.safetensors"))
    print(json.dumps({"loss": float(torch.mean(trainer.loss_total))}))


def train(weights_dir, net, mode, dataroot, epochs, decay_epochs, threads, out_file):
    torch.set_num_threads(threads)
    start = time.perf_counter()
    trainer = trainer_for(weights_dir, net, mode)
    dataset = DataLoader(dataroot, batch_size=BATCH_SIZE, shuffle=True).load_data()
    # train.py's loop.
    for epoch in range(1, epochs + decay_epochs + 1):
        for data in dataset:
            trainer.set_input(data)
            trainer.optimize_parameters()
        if epoch > epochs:
            trainer.update_learning_rate(decay_epochs)
    seconds = time.perf_counter() - start
    save_file(lpips_state(trainer.net), out_file)
    print(json.dumps({"seconds": seconds}))


def official_model(weights_file, net):
    model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    missing, unexpected = model.load_state_dict(load_file(weights_file), strict=False)
    not_loaded = [k for k in missing if not k.startswith(("scaling_layer.", "lins."))]
    if not_loaded or unexpected:
        sys.exit(f"error: weights do not fit the official model: missing {not_loaded}, unexpected {unexpected}")
    return model.eval()


def score(weights_file, net, dataroot, threads):
    torch.set_num_threads(threads)
    model = official_model(weights_file, net)
    with torch.no_grad():
        value, _ = lpips.score_2afc_dataset(DataLoader(dataroot, batch_size=BATCH_SIZE), model.forward)
    print(json.dumps({"score": float(value)}))


def distances(weights_file, net, pairs_csv, out_csv):
    torch.set_num_threads(1)
    model = official_model(weights_file, net)
    with open(pairs_csv) as f:
        pairs = [line.strip().split(",") for line in f if line.strip()]
    with open(out_csv, "w") as out, torch.no_grad():
        for a, b in pairs:
            ta, tb = lpips.im2tensor(lpips.load_image(a)), lpips.im2tensor(lpips.load_image(b))
            out.write(f"{float(model(ta, tb).item())!r}\n")


def main():
    args = sys.argv[2:]
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "step" and len(args) == 9:
        weights_dir, net, train_mode, batch_raw, count, side, judges_csv, seed, out_dir = args
        step(weights_dir, net, train_mode, batch_raw, int(count), int(side), judges_csv, int(seed), out_dir)
    elif mode == "train" and len(args) == 8:
        weights_dir, net, train_mode, dataroot, epochs, decay, threads, out_file = args
        train(weights_dir, net, train_mode, dataroot, int(epochs), int(decay), int(threads), out_file)
    elif mode == "score" and len(args) == 4:
        score(args[0], args[1], args[2], int(args[3]))
    elif mode == "distances" and len(args) == 4:
        distances(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
