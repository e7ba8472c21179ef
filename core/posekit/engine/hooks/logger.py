"""``logger`` (rank 0): a tqdm bar (``train.progress``), ``scalars.jsonl`` (``{"mode": "train" | "val", "epoch",
"iter", <scalar>: value}``, train rows averaged over ``interval`` iterations; a resumed run drops later lines),
``train.log``, and every row to the ``log_scalars`` hook."""

from __future__ import annotations

import datetime
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posekit.hookspecs import hookimpl
from posekit.jsonsafe import scalars_json

log = logging.getLogger("posekit.train")


class LoggerConfig(BaseModel):
    """``hooks.logger``: how often scalars are averaged and written."""

    model_config = ConfigDict(extra="forbid")

    interval: int = Field(10, ge=1)  # iterations


config_model = LoggerConfig
#: the JSON-lines scalar log in the work dir
SCALARS = "scalars.jsonl"


def _state(trainer: Any) -> dict[str, Any]:
    return trainer.hook_state.setdefault("logger", {})


def _truncate(path: Path, iteration: int) -> None:
    """Keep only the lines of ``path`` up to ``iteration`` (a resumed run rewrites the rest)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if int(json.loads(line)["iter"]) <= iteration:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    path.write_text("".join(f"{line}\n" for line in keep))


@hookimpl
def before_run(trainer: Any) -> None:
    if not trainer.is_main:
        return
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    st = _state(trainer)
    trainer.work_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("posekit")
    fh = logging.FileHandler(trainer.work_dir / "train.log", encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    root.addHandler(fh)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        st["old_level"] = root.level
        root.setLevel(logging.INFO)
    st["file_handler"] = fh
    if trainer.resumed_from is not None:
        _truncate(trainer.work_dir / SCALARS, trainer.iteration)
    st["jsonl"] = open(trainer.work_dir / SCALARS, "a", encoding="utf-8")
    st["window"] = defaultdict(list)
    progress = trainer.cfg.train.progress
    st["bar"] = tqdm(
        total=trainer.max_iters, initial=trainer.iteration, disable=not progress, dynamic_ncols=True, unit="it"
    )
    st["redirect"] = logging_redirect_tqdm(loggers=[root]) if progress else None
    if st["redirect"] is not None:
        st["redirect"].__enter__()
    split = trainer.cfg.data.train
    log.info(
        "training %s: %d samples, %d iterations per epoch, %d epochs, batch %d x %d processes, work dir %s",
        trainer.cfg.model.get("type"),
        len(trainer.train_dataset),
        trainer.iters_per_epoch,
        trainer.max_epochs,
        split.batch_size,
        trainer.world_size,
        trainer.work_dir,
    )


def _write(trainer: Any, row: dict[str, Any]) -> None:
    st = _state(trainer)
    st["jsonl"].write(scalars_json(row) + "\n")
    st["jsonl"].flush()
    trainer.pm.hook.log_scalars(trainer=trainer, row=row)


def _text_line(st: dict[str, Any], message: str, console: bool) -> None:
    """``message`` into train.log, and to the console unless the progress bar shows it."""
    if console:
        log.info(message)
    else:
        st["file_handler"].handle(log.makeRecord(log.name, logging.INFO, __file__, 0, message, None, None))


@hookimpl
def before_train_epoch(trainer: Any, epoch: int) -> None:
    if trainer.is_main:
        _state(trainer)["bar"].set_description(f"epoch {epoch + 1}/{trainer.max_epochs}")


@hookimpl(trylast=True)
def after_train_iter(trainer: Any, batch_idx: int, batch: Any, outputs: dict[str, float]) -> None:
    if not trainer.is_main:
        return
    st = _state(trainer)
    window = st["window"]
    for key, value in outputs.items():
        window[key].append(float(value))
    bar = st["bar"]
    bar.update(1)
    interval = trainer.cfg.hooks.section("logger").interval
    last_of_epoch = batch_idx + 1 == trainer.iters_per_epoch
    if trainer.iteration % interval and not last_of_epoch and trainer.iteration < trainer.max_iters:
        return
    means = {k: sum(v) / len(v) for k, v in window.items() if v}
    window.clear()
    step_time = means.get("time")
    if step_time:
        means["samples_per_s"] = len(batch) * trainer.world_size / step_time
    _write(trainer, {"mode": "train", "epoch": trainer.epoch + 1, "iter": trainer.iteration, **means})
    postfix = {k: f"{means[k]:.4g}" for k in ("loss", "lr") if k in means}
    if "samples_per_s" in means:
        postfix["img/s"] = f"{means['samples_per_s']:.1f}"
    bar.set_postfix(postfix, refresh=False)
    eta = ""
    if step_time:
        eta = f" eta {datetime.timedelta(seconds=round(step_time * (trainer.max_iters - trainer.iteration)))}"
    scalars = " ".join(f"{k} {v:.4g}" for k, v in means.items())
    line = (
        f"epoch {trainer.epoch + 1} [{batch_idx + 1}/{trainer.iters_per_epoch}] "
        f"iter {trainer.iteration}/{trainer.max_iters}{eta} {scalars}"
    )
    _text_line(st, line, console=bar.disable)


@hookimpl
def after_val(trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
    if not trainer.is_main or not metrics:
        return
    _write(trainer, {"mode": "val", "epoch": epoch + 1, "iter": trainer.iteration, **metrics})
    log.info("epoch %d validation: %s", epoch + 1, " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


@hookimpl(trylast=True)
def after_run(trainer: Any) -> None:
    if not trainer.is_main:
        return
    st = _state(trainer)
    if not st:
        return
    st["bar"].close()
    if st["redirect"] is not None:
        st["redirect"].__exit__(None, None, None)
    st["jsonl"].close()
    if trainer.stop_reason is not None:
        log.error("run stopped: %s", trainer.stop_reason)
    root = logging.getLogger("posekit")
    root.removeHandler(st["file_handler"])
    st["file_handler"].close()
    if "old_level" in st:
        root.setLevel(st["old_level"])
    st.clear()
