"""Preference pairs read from local files.

ParaDetox (Logacheva et al. 2022, CC0): each line is a toxic comment and one to three
crowd-written non-toxic paraphrases, tab-separated, unquoted. A pair asks the model to
rewrite the comment politely; chosen = the first paraphrase, rejected = the toxic
original left as it is. This is a detoxification preference, not the paper's BiasDPO
data (not obtainable offline); it is named as what it is wherever it is used.
"""

from __future__ import annotations

from pathlib import Path

from biasgrpo.errors import DataError

REWRITE_PROMPT = "Rewrite this comment so that it keeps its meaning but is polite and respectful:\n{text}"


def read_paradetox(path: str | Path, on_bad_row: str) -> tuple[list[dict[str, str]], int]:
    """Rows with prompt / chosen / rejected, and the number of malformed lines skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    if header[:2] != ["toxic", "neutral1"]:
        raise DataError(f"{path}: expected a header starting 'toxic<TAB>neutral1', found {header[:2]}")
    rows, skipped = [], 0
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        toxic, neutral = [*fields, "", ""][:2]
        problem = "toxic is empty" if not toxic.strip() else "neutral1 is empty" if not neutral.strip() else None
        if problem is None and toxic.strip() == neutral.strip():
            problem = "neutral1 equals toxic"
        if problem:
            if on_bad_row == "error":
                raise DataError(f"{path}:{number}: {problem} (fix the row, or set dataset.on_bad_row=skip)")
            skipped += 1
            continue
        rows.append(
            {
                "prompt": REWRITE_PROMPT.format(text=toxic.strip()),
                "chosen": neutral.strip(),
                "rejected": toxic.strip(),
                "domain": "toxicity",
                "group": "",
                "form": "rewrite",
                "source": f"paradetox:{number}",
            }
        )
    return rows, skipped
