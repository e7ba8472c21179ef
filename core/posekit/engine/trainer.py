"""The trainer: a plain torch loop (one batch per iteration, an optimizer step every ``optim.accumulate``)
whose behaviour (checkpoints, logs, validation, EMA) lives in ``posekit.hooks`` hookimpls; DDP under torchrun."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from posekit.config.schema import Experiment
from posekit.engine import dist
from posekit.engine.checkpoint import find_latest, rng_state, set_rng_state
from posekit.engine.dist import resolve_device
from posekit.engine.host_memory import retain_freed_memory
from posekit.engine.loader import build_eval_loader, build_train_loader
from posekit.engine.optim import IterLR, LRSchedule, build_optimizer
from posekit.engine.runtime import autocast, parse_losses, seed_everything
from posekit.engine.workdir import check_work_dir
from posekit.errors import CheckpointError, ConfigError
from posekit.nn.checkpoint import (
    component_distributions,
    extract_state_dict,
    load_model_checkpoint,
    load_state_dict,
    read_checkpoint,
    require_distributions,
)
from posekit.nn.fuse import use_channels_last
from posekit.plugins import make_plugin_manager
from posekit.registry import build

log = logging.getLogger("posekit.train")


class Trainer:
    """Train ``cfg.model`` on ``cfg.data.train``, validating on ``cfg.data.val``.

    State that hooks read: ``cfg``, ``work_dir``, ``model`` (unwrapped), ``optimizer``,
    ``scheduler``, ``scaler`` (or None), ``epoch`` (0-based, current), ``iteration``
    (batches done in the run), ``batch_in_epoch``, ``iters_per_epoch``, ``max_epochs``,
    ``max_iters``, ``rank``, ``world_size``, ``is_main``, ``device``, ``optimizer_stepped``
    (this iteration applied an optimizer step), ``accumulating`` (gradients are pending for
    the next step), ``stop_reason``, ``finished``, ``last_metrics``, ``pm`` (the pluggy
    manager) and ``hook_state`` (a dict where hooks keep per-run state under their own name).

    Args:
        work_dir: default ``cfg.work_dir``.
        resume: a checkpoint path, True for the latest in ``work_dir``, or None.
        plugins: hook plugin objects registered besides the entry points.
    """

    def __init__(
        self,
        cfg: Experiment,
        *,
        work_dir: str | Path | None = None,
        resume: str | Path | bool | None = None,
        plugins: Iterable[object] = (),
    ) -> None:
        self.cfg = cfg
        self.work_dir = Path(work_dir if work_dir is not None else cfg.work_dir)
        self.resume_from = resume
        self.plugins = tuple(plugins)
        self.epoch = 0
        self.iteration = 0
        self.batch_in_epoch = 0
        self.epoch_done = False
        self.optimizer_stepped = False
        self.accumulating = False
        self.skipped_iters = 0
        self.stop_reason: str | None = None
        self.finished = False
        self.resumed_from: Path | None = None
        self.last_metrics: dict[str, float] = {}
        self.hook_state: dict[str, Any] = {}
        self._owns_group = False
        self._restore_algorithms: Callable[[], None] | None = None
        self._built = False

    # ------------------------------------------------------------------ building

    def setup(self) -> None:
        """Build everything (model, data, optimizer, hooks) and resume; called by :meth:`fit`."""
        cfg = self.cfg
        if cfg.data.train is None:
            raise ConfigError("data.train: training needs a train split (dataset, batch_size, ...)")
        resume = self.resume_from
        continuing = resume is True or (
            bool(resume) and Path(resume).resolve().parent == self.work_dir.resolve()  # type: ignore[arg-type]
        )
        check_work_dir(self.work_dir, continuing)
        self.device = resolve_device(cfg.train.device)
        self._owns_group = dist.init_from_env(self.device, cfg.train.dist_timeout)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.is_main = self.rank == 0
        self._restore_algorithms = seed_everything(cfg.train.seed, cfg.train.deterministic)
        if cfg.train.retain_host_memory:
            retain_freed_memory()
        self.pm = make_plugin_manager(cfg.hooks.enable, cfg.hooks.disable, self.plugins)

        model = build("estimator", cfg.model, where="model").to(self.device)
        if (start := cfg.train.load_from) and not self.resume_from:  # missing/unexpected keys warned, as MMEngine
            load_model_checkpoint(model, start, strict=False, source=f"train.load_from {start}")
        if cfg.train.channels_last:
            use_channels_last(model)
        if cfg.train.sync_bn and self.world_size > 1:
            model = dist.convert_sync_batchnorm(model, self.device)
        self.model = model
        self.ddp_model: nn.Module = model
        # losses that sum over their batch (``batch_reduction = "sum"``) are scaled by N under DDP's mean
        self.sum_losses = any(getattr(m, "batch_reduction", "mean") == "sum" for m in model.modules())
        if self.world_size > 1:
            find_unused = cfg.train.find_unused_parameters
            self.ddp_model = DistributedDataParallel(
                model,
                device_ids=[self.device] if self.device.type == "cuda" else None,
                find_unused_parameters=find_unused,
                static_graph=not find_unused,  # parameters no step uses (unused stages) need no flag
            )

        self._build_data()
        self.optimizer = build_optimizer(model, cfg.optim.optimizer)
        schedule = LRSchedule(cfg.optim.scheduler, self.iters_per_epoch, self.max_epochs, self.max_iters)
        self.scheduler = IterLR(self.optimizer, schedule, self.iters_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.optim.amp and self.device.type == "cuda" else None
        self._built = True
        if self.resume_from:
            self._resume()

    def _build_data(self) -> None:
        cfg = self.cfg
        self.train_dataset = build("dataset", cfg.data.train.dataset, where="data.train.dataset")
        self._set_train_loader("data.train.dataset")
        self.max_epochs = cfg.train.epochs
        self.max_iters = self.max_epochs * self.iters_per_epoch
        if cfg.train.max_iters is not None:
            self.max_iters = min(self.max_iters, cfg.train.max_iters)
        self.val_dataset = None
        self.val_loader = None
        val = cfg.data.val
        if val is not None:
            self.val_dataset = build("dataset", val.dataset, where="data.val.dataset")
            self.val_loader = build_eval_loader(
                self.val_dataset, val, cfg.train.seed, self.rank, self.world_size, self.device, val.persistent_workers
            )

    def _set_train_loader(self, where: str) -> None:
        """Sampler, loader and ``iters_per_epoch`` of ``self.train_dataset`` (given at ``where``)."""
        if getattr(self.train_dataset, "seed", 0) is None:  # per-sample augmentation seeds follow train.seed
            self.train_dataset.seed = self.cfg.train.seed
        self.train_sampler, self.train_loader, self.iters_per_epoch = build_train_loader(
            self.train_dataset, self.cfg.data.train, self.cfg.train.seed, self.rank, self.world_size, self.device, where
        )

    def replace_train_dataset(self, dataset: Any, where: str) -> None:
        """Train on ``dataset`` (config path ``where``) from the current epoch on; epochs take its length and
        the LR schedule keeps following epochs. A hook calls it again in ``before_run`` when a run resumes."""
        self.train_dataset = dataset
        self._set_train_loader(where)
        self.train_sampler.set_epoch(self.epoch)
        self.train_sampler.set_start(self.batch_in_epoch * self.cfg.data.train.batch_size)  # type: ignore[union-attr]
        first = self.iteration - self.batch_in_epoch
        self.max_iters = first + (self.max_epochs - self.epoch) * self.iters_per_epoch
        if self.cfg.train.max_iters is not None:
            self.max_iters = min(self.max_iters, self.cfg.train.max_iters)
        self.scheduler.set_epoch_length(first, self.epoch, self.iters_per_epoch)

    def autocast(self) -> AbstractContextManager[Any]:
        """The mixed-precision context of forward passes (:func:`~posekit.engine.runtime.autocast`)."""
        return autocast(self.device.type, self.cfg.optim.amp)

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self) -> dict[str, Any]:
        """The run's state as a weights_only-loadable dict, after ``on_save_checkpoint`` hooks."""
        from posekit import __version__

        ckpt: dict[str, Any] = {
            "meta": {
                "posekit_version": __version__,
                "epoch": self.epoch + int(self.epoch_done),
                "iter": self.iteration,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "config": self.cfg.model_dump(mode="json"),
                "distributions": component_distributions(self.cfg.model_dump(mode="json")),
            },
            "state_dict": dict(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "loop": {
                "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch,
                "epoch_done": self.epoch_done,
                "iteration": self.iteration,
                "world_size": self.world_size,
                "skipped_iters": self.skipped_iters,
            },
            "rng": rng_state(),
        }
        if self.scaler is not None:
            ckpt["scaler"] = self.scaler.state_dict()
        self.pm.hook.on_save_checkpoint(trainer=self, checkpoint=ckpt)
        return ckpt

    def _resume(self) -> None:
        if self.resume_from is True:
            path = find_latest(self.work_dir)
            if path is None:
                log.info("--resume: no checkpoint in %s yet; starting from scratch", self.work_dir)
                return
        else:
            path = Path(self.resume_from)  # type: ignore[arg-type]
        ckpt = read_checkpoint(path)
        require_distributions(ckpt, f"checkpoint {str(path)!r}")
        missing = [k for k in ("loop", "optimizer", "scheduler", "rng") if k not in ckpt]
        if missing:
            raise CheckpointError(
                f"{path} cannot resume a run: it has no {', '.join(missing)} (a weights-only checkpoint); "
                "resume from a checkpoint written by `posekit train`"
            )
        self.pm.hook.on_load_checkpoint(trainer=self, checkpoint=ckpt)
        source = f"checkpoint {str(path)!r}"
        load_state_dict(self.model, extract_state_dict(ckpt, None, source), strict=True, source=source)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        loop = ckpt["loop"]
        self.epoch = int(loop["epoch"])
        self.batch_in_epoch = int(loop["batch_in_epoch"])
        self.iteration = int(loop["iteration"])
        self.skipped_iters = int(loop.get("skipped_iters", 0))
        if loop["epoch_done"]:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        if int(loop["world_size"]) != self.world_size and self.batch_in_epoch:
            log.warning(
                "resuming a run of %d processes with %d: the interrupted epoch continues from the same batch "
                "index, but not with exactly the same samples",
                loop["world_size"],
                self.world_size,
            )
        set_rng_state(ckpt["rng"])
        self.resumed_from = path
        log.info("resumed from %s (epoch %d, iteration %d)", path, self.epoch + 1, self.iteration)

    # ------------------------------------------------------------------ the loop

    def validates_this_epoch(self, epoch: int) -> bool:
        """Whether validation runs after ``epoch`` (every ``train.val_interval`` epochs, or the interval
        ``train.dynamic_intervals`` sets from its epoch on, and after the last)."""
        if self.val_loader is None or not self.cfg.evaluator or not self.pm.hook.run_validation.get_hookimpls():
            return False
        return (epoch + 1) % self.cfg.train.val_interval_at(epoch) == 0 or epoch + 1 == self.max_epochs

    def validate(self, epoch: int) -> dict[str, float]:
        """Run ``before_val``, ``run_validation`` and ``after_val``; return the metrics."""
        self.pm.hook.before_val(trainer=self, epoch=epoch)
        metrics = self.pm.hook.run_validation(trainer=self, epoch=epoch) or {}
        self.last_metrics = dict(metrics)
        self.pm.hook.after_val(trainer=self, epoch=epoch, metrics=self.last_metrics)
        return self.last_metrics

    def fit(self) -> None:
        """Train until ``train.epochs`` (or ``train.max_iters``), a non-finite loss (``stop_reason``), or an error."""
        if not self._built:
            try:
                self.setup()
            except BaseException:
                self.teardown()
                raise
        try:
            self.pm.hook.before_run(trainer=self)
            start_batch = self.batch_in_epoch
            while self.epoch < self.max_epochs and self.iteration < self.max_iters:
                self._train_epoch(start_batch)
                start_batch = 0
                if self.stop_reason is not None or self.batch_in_epoch < self.iters_per_epoch:
                    break
                self.epoch_done = True
                self.pm.hook.after_train_epoch(trainer=self, epoch=self.epoch)
                if self.validates_this_epoch(self.epoch):
                    self.validate(self.epoch)
                self.epoch, self.batch_in_epoch, self.epoch_done = self.epoch + 1, 0, False
            self.finished = self.stop_reason is None
            self._check_skipped()
        except BaseException as e:
            if self.world_size > 1 and isinstance(e, RuntimeError) and "timed out" in str(e).lower():
                e = self._distributed_failure(e)
            if self.stop_reason is None:
                self.stop_reason = f"{type(e).__name__}: {e}"
            raise e
        finally:
            try:
                self.pm.hook.after_run(trainer=self)
            finally:
                self.teardown()

    def _check_skipped(self) -> None:
        """Fail a run that skipped more than ``train.max_skipped_fraction`` of its steps."""
        limit = self.cfg.train.max_skipped_fraction
        if self.iteration and self.skipped_iters > limit * self.iteration:
            self.finished = False
            self.stop_reason = (
                f"{self.skipped_iters} of {self.iteration} steps were skipped for non-finite losses or "
                f"gradients (more than train.max_skipped_fraction={limit}); the weights are not a trained "
                "model. Check optim.optimizer.lr and the data"
            )
            log.error(self.stop_reason)

    def _distributed_failure(self, e: RuntimeError) -> BaseException:
        """``e`` as a :class:`DistributedTimeoutError` naming the ranks that stopped answering, if any did."""
        stalled = dist.stalled_ranks(min(10.0, self.cfg.train.dist_timeout))
        if not stalled:
            return e
        who = ", ".join(str(r) for r in stalled)
        err = dist.DistributedTimeoutError(
            f"rank {self.rank}: a collective did not complete within train.dist_timeout="
            f"{self.cfg.train.dist_timeout:g} s; rank(s) {who} stopped answering (stopped, killed or hung) "
            f"at iteration {self.iteration + 1}. The run ends; resume it with --resume"
        )
        err.__cause__ = e
        return err

    def teardown(self) -> None:
        """Leave the process group this trainer joined; put torch's algorithm switches back."""
        if self._owns_group and dist.is_initialized():
            dist.leave_group()
            self._owns_group = False
        if self._restore_algorithms is not None:
            self._restore_algorithms()
            self._restore_algorithms = None

    def _group(self, batch_idx: int) -> tuple[int, bool]:
        """(batches in this accumulation group, whether ``batch_idx`` ends it)."""
        acc = self.cfg.optim.accumulate
        start = batch_idx - batch_idx % acc
        run_end = batch_idx + (self.max_iters - self.iteration)
        end = min(start + acc, self.iters_per_epoch, run_end)
        return end - start, batch_idx + 1 == end

    def _train_epoch(self, start_batch: int) -> None:
        split = self.cfg.data.train
        assert split is not None
        self.batch_in_epoch = start_batch
        self.train_sampler.set_epoch(self.epoch)
        self.train_sampler.set_start(start_batch * split.batch_size)
        self.ddp_model.train()
        self.pm.hook.before_train_epoch(trainer=self, epoch=self.epoch)
        for batch_idx, batch in enumerate(self.train_loader, start=start_batch):
            self.pm.hook.before_train_iter(trainer=self, batch_idx=batch_idx, batch=batch)
            outputs = self._train_iter(batch_idx, batch)
            if outputs is None:
                return
            self.iteration += 1
            self.batch_in_epoch = batch_idx + 1
            self.pm.hook.after_train_iter(trainer=self, batch_idx=batch_idx, batch=batch, outputs=outputs)
            if self.iteration >= self.max_iters:
                return

    def _nonfinite(self, value: float) -> bool:
        """Whether ``value`` is NaN/inf on any rank (every rank takes the same decision)."""
        bad = 0.0 if math.isfinite(value) else 1.0
        return dist.all_reduce_max(bad, self.device) > 0 if self.world_size > 1 else bad > 0

    def _skip(self, what: str, batch_idx: int, lr: float) -> dict[str, float] | None:
        """A non-finite loss or gradient: None when the run stops, else the skipped step's scalars."""
        self.optimizer.zero_grad(set_to_none=True)
        self.accumulating = False
        where = f"iteration {self.iteration + 1} (epoch {self.epoch + 1}, batch {batch_idx + 1}/{self.iters_per_epoch})"
        if self.cfg.train.nan_policy == "skip":
            self.skipped_iters += 1
            log.warning("%s at %s: step skipped (train.nan_policy=skip)", what, where)
            self.scheduler.step()
            return {"lr": lr, "skipped": 1.0}
        self.stop_reason = (
            f"{what} at {where}; training stopped and no checkpoint was written after the last good one "
            "(train.nan_policy=skip skips such steps instead)"
        )
        log.error(self.stop_reason)
        return None

    def _train_iter(self, batch_idx: int, batch: Any) -> dict[str, float] | None:
        """One batch: forward, backward, and the optimizer step ending a group; the scalars, or None to stop."""
        factor, boundary = self._group(batch_idx)
        self.optimizer_stepped = False
        lr = float(self.optimizer.param_groups[0]["lr"])
        batch = self.model.data_preprocessor(batch, True)
        no_sync = self.world_size > 1 and not boundary
        sync_ctx = self.ddp_model.no_sync() if no_sync else contextlib.nullcontext()  # type: ignore[operator]
        with sync_ctx:
            with self.autocast():
                losses = self.ddp_model(batch.inputs, batch, "loss")
            loss, outputs = parse_losses(losses)
            if self.world_size > 1:
                if self.sum_losses:
                    loss = loss * self.world_size
                sums = frozenset(k for k in outputs if k.startswith("loss")) if self.sum_losses else frozenset()
                outputs = dist.reduce_scalars(outputs, self.device, sums)
            if not math.isfinite(outputs["loss"]):
                bad = ", ".join(f"{k}={v}" for k, v in outputs.items() if not math.isfinite(v)) or "on another process"
                return self._skip(f"non-finite loss ({bad})", batch_idx, lr)
            scaled = loss / factor
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        self.accumulating = not boundary
        outputs["lr"] = lr
        if boundary:
            grad_norm = self._step()
            if grad_norm is not None:
                if self.scaler is None and self._nonfinite(grad_norm):
                    return self._skip(f"non-finite gradient norm ({grad_norm})", batch_idx, lr)
                outputs["grad_norm"] = grad_norm
        self.scheduler.step()
        return outputs

    def _step(self) -> float | None:
        """Unscale, clip and apply the gradients; the norm (non-finite without a scaler: not applied), or None."""
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return None
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        clip = self.cfg.optim.clip_grad
        if clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        grad_norm = float(norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        elif math.isfinite(grad_norm):
            self.optimizer.step()
        else:
            return grad_norm
        self.optimizer.zero_grad(set_to_none=True)
        self.optimizer_stepped = True
        return grad_norm
