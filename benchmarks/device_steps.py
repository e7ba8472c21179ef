"""Where do CPU and CUDA training part? The same training steps of a synthetic config on two devices: one
model, copied, the same batches, the same optimizer; the losses side by side, then how far the weights drifted
(a diagnostic, not a test; RTMO learns ~10x less per step on a 2-core CPU than on the H200, cause not found).

    python benchmarks/device_steps.py --family rtmo --steps 200            # cpu against cuda
    python benchmarks/device_steps.py --family rtmo --devices cpu cpu      # the run-to-run floor
"""

from __future__ import annotations

import argparse
import copy

import torch
from _learning import add_run_arguments, prepare, synthetic_config
from bottomup_learning import FAMILIES
from onestage_learning import CONFIGS

import posekit
from posekit.data import build_dataloader, pose_collate
from posekit.engine.optim import build_optimizer
from posekit.engine.runtime import seed_everything
from posekit.registry import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=("rtmo", "yoloxpose", *FAMILIES), default="rtmo")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--devices", nargs=2, default=("cpu", "cuda"))
    add_run_arguments(parser, epochs=1, val_interval=1, batch=16)
    args = parser.parse_args()
    work, data = prepare(args, f"device-steps-{args.family}")
    path = CONFIGS / f"synthetic_{args.family}.yaml" if args.family in ("rtmo", "yoloxpose") else FAMILIES[args.family]
    cfg = posekit.load_config(synthetic_config(path, data, work / "run", args.size), overrides=args.set)
    seed_everything(0, True)
    base = build("estimator", cfg.model, where="model").train()
    models = [copy.deepcopy(base).to(device) for device in args.devices]
    optims = [build_optimizer(m, cfg.optim.optimizer) for m in models]  # base lr, no schedule: both step alike
    dataset = build("dataset", cfg.data.train.dataset, where="data.train.dataset")
    loader = build_dataloader(dataset, batch_size=args.batch, shuffle=True, seed=0, collate_fn=pose_collate)
    clip = cfg.optim.clip_grad
    print(f"{args.family} {args.size}px batch {args.batch}: total loss on {args.devices[0]} / {args.devices[1]}")
    step = 0
    while step < args.steps:
        for batch in loader:
            totals = []
            for model, optim in zip(models, optims, strict=True):
                inputs = model.data_preprocessor(copy.deepcopy(batch), True)  # a copy: nothing shared in place
                losses = model(inputs.inputs, inputs, "loss")
                total = sum(v for k, v in losses.items() if k.startswith("loss"))
                optim.zero_grad()
                total.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                optim.step()
                totals.append(float(total.detach()))
            if step % 10 == 0 or step == args.steps - 1:
                print(f"step {step:5d}  {totals[0]:12.4f}  {totals[1]:12.4f}  ratio {totals[1] / totals[0]:.4f}")
            step += 1
            if step == args.steps:
                break
    with torch.no_grad():
        drift = [
            (float((a - b.to(a.device)).norm() / a.norm().clamp(min=1e-12)), name)
            for (name, a), b in zip(models[0].named_parameters(), models[1].parameters(), strict=True)
        ]
    print("largest relative weight differences after the steps:")
    for value, name in sorted(drift, reverse=True)[:10]:
        print(f"  {value:.3e}  {name}")


if __name__ == "__main__":
    main()
