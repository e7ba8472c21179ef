"""``curves``: ``work_dir/curves.png`` drawn from the ``logger`` hook's ``scalars.jsonl`` when the run ends (rank 0).

Four panels where the log has them: losses, learning rate, other training scalars (per
iteration) and validation metrics (per epoch). A plotting problem is a warning, never a failed run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from posekit import hookimpl
from posekit.engine.hooks.logger import SCALARS

log = logging.getLogger("posekit.train")
CURVES = "curves.png"
#: row keys that are not drawn: a row's place, and timings and counters
SKIP = {"mode", "epoch", "iter", "time", "data_time", "samples_per_s", "grad_norm", "skipped"}


@hookimpl(trylast=True)
def after_run(trainer: Any) -> None:
    scalars = trainer.work_dir / SCALARS
    if not trainer.is_main or not scalars.is_file():
        return
    try:
        out = plot_curves(scalars, trainer.work_dir / CURVES)
        if out is not None:
            log.info("training curves: %s", out)
    except Exception as e:  # a plotting problem never fails a finished run
        log.warning("could not draw %s: %s: %s", CURVES, type(e).__name__, e)


def plot_curves(scalars: str | Path, out: str | Path) -> Path | None:
    """Draw a ``scalars.jsonl`` log into a PNG: losses, LR, other train scalars, validation metrics.

    Returns ``out``, or None when the log has no rows.

    Args:
        scalars: the JSON-lines log.
        out: the PNG to write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [json.loads(line) for line in Path(scalars).read_text().splitlines() if line.strip()]
    train = [r for r in rows if r.get("mode") == "train"]
    val = [r for r in rows if r.get("mode") == "val"]
    keys = sorted({k for r in train for k in r} - SKIP)
    panels: list[tuple[str, str, list[dict[str, Any]], list[str]]] = [
        ("losses", "iter", train, [k for k in keys if k.startswith("loss")]),
        ("learning rate", "iter", train, [k for k in keys if k == "lr"]),
        ("train scalars", "iter", train, [k for k in keys if not k.startswith("loss") and k != "lr"]),
        ("validation", "epoch", val, sorted({k for r in val for k in r} - SKIP)),
    ]
    panels = [p for p in panels if p[3]]
    if not panels:
        return None
    fig = Figure(figsize=(5 * len(panels), 4), layout="constrained")
    FigureCanvasAgg(fig)
    for i, (title, x, data, names) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for name in names:
            pts = [(r[x], r[name]) for r in data if r.get(name) is not None]  # null: non-finite
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, marker="o" if x == "epoch" else None)
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    out = Path(out)
    fig.savefig(out, dpi=100)
    return out
