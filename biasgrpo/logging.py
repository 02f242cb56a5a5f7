"""Run logging: local metrics.jsonl and summary.json always, W&B when configured.

The local files are written first, so a run's results survive whatever happens to
W&B. W&B is imported only when ``logger=wandb``; it runs offline unless the user asks
for ``logger.mode=online``, and a failure inside W&B is reported once and then
ignored rather than killing a long run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

from biasgrpo.config import Config, LoggerConfig
from biasgrpo.wandb_log import wait_for_exit_record

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def sweep_overrides() -> str:
    """The overrides that vary within a Hydra multirun job ("" outside a sweep)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return ""
    return HydraConfig.get().job.override_dirname


def run_names(conf: Config, group: str = "", name: str = "") -> tuple[str, str]:
    """(group, name) for W&B: ``logger.group`` / ``logger.name`` when set, else the task's own
    (``group`` and ``name``), else a training run's: the group holds all else equal, the name says
    what varies. Inside a sweep the name also carries the job's overrides (e.g.
    ``grpo-smollm2_135m-s0-algorithm.num_generations=8``), so W&B tells the jobs apart.
    """
    lc = conf.logger
    group = lc.group or group or f"{conf.dataset.name}-{conf.model.name}-{conf.reward.name}"
    base = lc.name or name or f"{conf.algorithm.name}-{conf.model.name}-s{conf.seed}"
    varied = sweep_overrides()
    return group, f"{base}-{varied}" if varied and not lc.name else base


def _plain(value: Any) -> Any:
    """A JSON-friendly number: tensors become floats; NaN/inf become strings, never 0."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class RunLogger:
    """A run's metrics.jsonl and summary.json, and its W&B run when ``logger.kind=wandb``.

    ``conf`` (the run's typed config, logged as W&B's config) and ``names`` (its W&B group and
    name, from :func:`run_names`) are needed only for W&B.
    """

    def __init__(
        self,
        run_dir: Path,
        logger_cfg: LoggerConfig,
        resume_step: int = 0,
        conf: Config | None = None,
        names: tuple[str, str] = ("", ""),
        job_type: str = "train",
        tags: tuple[str, ...] = (),
    ) -> None:
        self.run_dir = run_dir
        self.metrics_path = run_dir / METRICS_FILE
        self._truncate_after(resume_step)
        self._wandb: Any = None
        if logger_cfg.kind == "wandb":
            assert conf is not None, "a W&B run records the run's config"
            self._wandb = self._start_wandb(conf, logger_cfg, names, job_type, tags)

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every row logged so far; a line cut short by a kill mid-write is ignored."""
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def _truncate_after(self, step: int) -> None:
        """On resume, drop rows logged after the checkpoint: those steps run again."""
        keep = [row for row in self.read_metrics() if row.get("step", 0) <= step]
        tmp = self.metrics_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in keep))
        tmp.replace(self.metrics_path)

    def _start_wandb(
        self, conf: Config, lc: LoggerConfig, names: tuple[str, str], job_type: str, tags: tuple[str, ...]
    ) -> Any:
        import wandb

        group, name = names
        id_file = self.run_dir / "wandb_id.txt"
        # secrets, not random: drawing the id must not move the training RNG.
        run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(6)
        id_file.write_text(run_id)
        os.environ.setdefault("WANDB_SILENT", "true")
        run = wandb.init(
            project=lc.project,
            entity=lc.entity,
            mode=lc.mode,
            job_type=job_type,
            group=group,
            name=name,
            tags=[conf.algorithm.name, conf.model.name, conf.reward.name, *lc.tags, *tags],
            config=dataclasses.asdict(conf),
            dir=str(self.run_dir),
            id=run_id,
            resume="allow",
        )
        print(f"[biasgrpo] W&B {lc.mode}: project={lc.project} group={group} name={name} dir={run.dir}")
        return run

    def _wandb_call(self, fn: str, *args: Any, **kwargs: Any) -> None:
        if self._wandb is None:
            return
        try:
            getattr(self._wandb, fn)(*args, **kwargs)
        except Exception as err:
            print(f"[biasgrpo] W&B {fn} failed, continuing with local files only: {err}")
            self._wandb = None

    def log(self, metrics: dict[str, Any], step: int) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self._wandb_call("log", {k: v for k, v in row.items() if k != "step"}, step=step)

    def images(self, images: dict[str, Path], step: int) -> None:
        """PNG files (already written to the run directory) as W&B images."""
        if self._wandb is not None:
            import wandb

            self._wandb_call("log", {key: wandb.Image(str(path)) for key, path in images.items()}, step=step)

    def table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> None:
        """A table of examples (e.g. sample completions): W&B table and a local jsonl file."""
        with (self.run_dir / f"{key.replace('/', '_')}.jsonl").open("a") as f:
            for row in rows:
                f.write(json.dumps({"step": step, **dict(zip(columns, row))}) + "\n")
        if self._wandb is not None:
            import wandb

            self._wandb_call("log", {key: wandb.Table(columns=columns, data=rows)}, step=step)

    def summary(self, figures: dict[str, Any]) -> None:
        plain = {k: _plain(v) for k, v in figures.items()}
        (self.run_dir / SUMMARY_FILE).write_text(json.dumps(plain, indent=2, sort_keys=True) + "\n")
        if self._wandb is not None:
            for k, v in plain.items():
                self._wandb.summary[k] = v

    def finish(self, close_timeout_s: float = 60.0) -> None:
        """Finish the W&B run, then wait until its transaction log ends with the exit record.

        W&B's service closes the log after ``finish()`` returns; waiting here means whatever
        reads the run folder next (a report, a copy, ``wandb sync``) finds the whole run.
        """
        if self._wandb is None:
            return
        log = Path(self._wandb.settings.sync_file)
        self._wandb_call("finish")
        if self._wandb is not None and not wait_for_exit_record(log, close_timeout_s):
            print(
                f"[biasgrpo] WARNING: W&B finished the run but {log} still has no exit record after "
                f"{close_timeout_s:.0f} s; the local metrics.jsonl and summary.json are complete, the W&B "
                "log may not be (`wandb sync` would upload it as unfinished)"
            )
        self._wandb = None


class SilentLogger:
    """The run logger of a process other than rank 0: it writes nothing."""

    def log(self, metrics: dict[str, Any], step: int) -> None:
        pass

    def table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> None:
        pass

    def summary(self, figures: dict[str, Any]) -> None:
        pass

    def read_metrics(self) -> list[dict[str, Any]]:
        return []

    def finish(self) -> None:
        pass
