"""Rows of a dataset table (kind=table): a local file or folder, or a Hugging Face dataset.

One reader serves the folder ``task=make_dataset`` writes, the paper's
``SaketR1/bias-grpo-data`` (prompt, category, favorable_completion, unfavorable_completion)
and ``ahmedallam/BiasDPO`` (prompt, chosen, rejected): ``dataset.columns`` maps our field
names onto the source's. A hub dataset is downloaded with ``huggingface_hub`` into its
cache (``HF_HOME``), then read like a local folder, so ``dataset.path=`` pointed at a copy
made elsewhere (``hf download <id> --repo-type dataset --local-dir <folder>``) reads the same.

Files: .jsonl (line numbers in messages), .csv, .parquet (needs pyarrow) and .json (a
list of records; other JSON, such as a card's counts, is not data). In a folder, files
whose name or parent folder starts with eval, test or validation form the held-out split.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from biasgrpo.data.domains import detect_domain, normalise_category
from biasgrpo.errors import DataError

Row = dict[str, Any]
FIELDS = ("prompt", "domain", "group", "terms", "form", "source", "chosen", "rejected")
"""Every row read from a table has these keys; chosen and rejected are "" on prompt-only rows."""
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
EVAL_SPLIT = re.compile(r"^(eval|test|validation)", re.IGNORECASE)


def records(path: Path) -> Iterator[tuple[int, Any]]:
    """(row number, record) for each record of a data file: the line for .jsonl and .csv
    (1 = the first line), the record's position for .parquet and .json."""
    if path.suffix == ".jsonl":
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as err:
                    yield number, f"not valid JSON ({err.msg})"
    elif path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            for record in reader:
                yield reader.line_num, record
    elif path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as err:
            raise DataError(f"{path}: reading parquet needs pyarrow (pip install pyarrow)") from err
        yield from enumerate(pq.read_table(path).to_pylist(), start=1)
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        yield from enumerate(data if isinstance(data, list) else [], start=1)


def data_files(path: Path) -> list[Path]:
    """The data files of a folder (hidden folders, such as a download's .cache, skipped), or the file itself."""
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.suffix in DATA_SUFFIXES and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def is_eval_file(path: Path) -> bool:
    return bool(EVAL_SPLIT.match(path.name) or EVAL_SPLIT.match(path.parent.name))


def to_row(record: Any, where: str, columns: dict[str, str], source: str) -> Row:
    """One source record as a row with every field of ``FIELDS``; DataError naming the field if it is bad.

    ``where`` (file and row number) goes into messages; ``source`` is the row's default source.
    """
    if not isinstance(record, dict):
        raise DataError(f"{where}: {record if isinstance(record, str) else 'not a record (object)'}")

    def get(name: str) -> Any:
        column = columns.get(name, name)
        return record[column] if column in record else record.get(name)

    row: Row = {}
    for name in ("prompt", "domain", "group", "form", "source", "chosen", "rejected"):
        value = get(name)
        if value is not None and not isinstance(value, str):
            raise DataError(f"{where}: field {name!r} is not text ({type(value).__name__})")
        row[name] = (value or "").strip()
    if not row["prompt"]:
        raise DataError(f"{where}: field 'prompt' is missing or empty")
    if bool(row["chosen"]) != bool(row["rejected"]):
        missing = "rejected" if row["chosen"] else "chosen"
        raise DataError(f"{where}: field {missing!r} is missing or empty while the other completion is set")
    if row["chosen"] and row["chosen"] == row["rejected"]:
        raise DataError(f"{where}: field 'rejected' equals 'chosen'")
    terms = get("terms")
    if terms is not None and not (isinstance(terms, list) and all(isinstance(t, str) for t in terms)):
        raise DataError(f"{where}: field 'terms' is not a list of strings")
    if row["domain"]:
        row["domain"] = normalise_category(row["domain"])
    else:  # no category (BiasDPO has none): the prompt's words say which domain
        row["domain"], found = detect_domain(row["prompt"]) or ("unspecified", [])
        terms = found if terms is None else terms
    row["terms"] = terms or []
    row["source"] = row["source"] or source
    return {name: row[name] for name in FIELDS}


def download(hub_id: str) -> Path:
    """The hub dataset's data files in the local cache (downloaded on first use)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        return Path(
            snapshot_download(repo_id=hub_id, repo_type="dataset", allow_patterns=[f"*{s}" for s in DATA_SUFFIXES])
        )
    except (OSError, HFValidationError) as err:  # no network, offline mode, unknown or gated repo
        reason = str(err).partition("\n")[0]
        raise DataError(
            f"dataset.hub_id={hub_id!r} could not be downloaded ({type(err).__name__}: {reason}). "
            f"Without network: pass a local copy with dataset.path=/folder/or/file (made where there is network "
            f"with `hf download {hub_id} --repo-type dataset --local-dir <folder>`), or build the offline "
            f"11-domain set with `python run.py task=make_dataset` (needs BIASGRPO_DATA_DIR) and train on it "
            f"with dataset=local"
        ) from err


def read_table(
    path: str, hub_id: str, columns: dict[str, str], on_bad_row: str
) -> tuple[list[Row], list[Row] | None, int]:
    """(training rows, held-out rows or None when the source has no eval split, rows skipped)."""
    if path:
        root = Path(path)
        if not root.exists():
            raise DataError(
                f"dataset.path={path!r} does not exist. Build the offline 11-domain set there with "
                f"`python run.py task=make_dataset make_dataset.out_dir={path}` (reads BIASGRPO_DATA_DIR), "
                f"or pass dataset.path= a local copy of the dataset"
            )
    else:
        root = download(hub_id)
    files = data_files(root)
    if not files:
        raise DataError(f"{root}: no data files ({', '.join(DATA_SUFFIXES)})")
    train: list[Row] = []
    heldout: list[Row] = []
    skipped = 0
    for file in files:
        origin = hub_id if not path else file.name
        for number, record in records(file):
            try:
                row = to_row(record, f"{file}:{number}", columns, f"{origin}:{number}")
            except DataError as err:
                if on_bad_row == "error":
                    raise DataError(f"{err} (fix the row, or set dataset.on_bad_row=skip)") from err
                skipped += 1
                continue
            (heldout if is_eval_file(file) and len(files) > 1 else train).append(row)
    return train, heldout or None, skipped
