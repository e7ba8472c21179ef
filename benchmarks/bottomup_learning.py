"""Do the bottom-up families learn? A short training run on posekit's synthetic multi-person images, COCO AP
and the wall time after each validation (a learning curve, not a test).

    python benchmarks/bottomup_learning.py --family ae             # Associative Embedding, 128x128
    python benchmarks/bottomup_learning.py --family dekr --epochs 8 --val-interval 2
    python benchmarks/bottomup_learning.py --family cid --size 128 --work /tmp/cid

Writes the data (``posekit data synth``) and the run under ``--work`` (default a temporary folder; data of the
same sizes already there is reused) and prints ``epoch  AP  AR  minutes`` after each validation. The model is
``plugins/posekit-bottomup/configs/synthetic_<family>.yaml`` (a small HRNet and the family's head; ED-Pose's is
``plugins/posekit-edpose/configs/synthetic_edpose.yaml``) at ``--size`` inputs, the synthetic images' size too,
validated every ``--val-interval`` epochs. Torch runs one thread unless ``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _learning import add_run_arguments, prepare, synthetic_config, train

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
#: family -> its shipped synthetic config
FAMILIES = {
    "ae": PLUGINS / "posekit-bottomup" / "configs" / "synthetic_ae.yaml",
    "dekr": PLUGINS / "posekit-bottomup" / "configs" / "synthetic_dekr.yaml",
    "cid": PLUGINS / "posekit-bottomup" / "configs" / "synthetic_cid.yaml",
    "edpose": PLUGINS / "posekit-edpose" / "configs" / "synthetic_edpose.yaml",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=FAMILIES, required=True)
    add_run_arguments(parser, epochs=6, val_interval=1, batch=8)
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the config's)")
    args = parser.parse_args()
    work, data = prepare(args, f"bottomup-{args.family}")
    cfg = synthetic_config(FAMILIES[args.family], data, work / "run", args.size)
    cfg["data"]["train"]["batch_size"] = args.batch
    if args.lr is not None:
        cfg["optim"]["optimizer"]["lr"] = args.lr
    cfg["train"] = {"epochs": args.epochs, "val_interval": args.val_interval, "progress": False, "seed": 0}
    title = f"{args.family}: {args.num_train} synthetic images {args.size}x{args.size}"
    train(cfg, work / "run", title, args)


if __name__ == "__main__":
    main()
