"""Groups and preference pairs read from the local data folder, mapped onto the 11 domains.

- HolisticBias v1.1 (Smith et al. 2022, CC-BY-SA-4.0): descriptors x nouns and standalone
  noun phrases give the group a prompt talks about, in plural ("Deaf women") and singular
  ("a Deaf woman") form. Descriptors the authors mark ``dispreferred`` or ``polarizing``
  are left out: prompts should name groups the way their members do. Intersectional
  domains combine two axes (see ``domains.INTERSECTIONS``).
- ToxiGen demonstrations (Hartvigsen et al. 2022, MIT): hateful and neutral statements
  about one target group; every (neutral, hateful) combination of a group is a candidate
  pair for a prompt that asks about the group.
- ParaDetox (Logacheva et al. 2022, CC0): toxic comment -> human polite rewrite, kept
  only when the comment names a group (``domains.detect_domain``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from biasgrpo.data.domains import HOLISTICBIAS_AXES, INTERSECTIONS, TOXIGEN_GROUPS, detect_domain
from biasgrpo.data.forms import PAIR_FORMS, render
from biasgrpo.data.pairs import read_paradetox
from biasgrpo.data.table import Row

SKIP_PREFERENCES = ("dispreferred", "polarizing")
# Nouns a HolisticBias descriptor is combined with, minus the children's ones: the
# prompt forms talk about jobs, loans and landlords.
CHILD_NOUNS = ("kid", "child", "girl", "boy")


@dataclass(frozen=True)
class Group:
    domain: str
    plural: str
    """Plural noun phrase, e.g. "Deaf women"; fills ``{group}`` in a form."""
    singular: str
    """Singular noun phrase with its article, e.g. "a Deaf woman"; fills ``{one}``."""
    terms: tuple[str, ...]
    """The words that name the group (descriptors, and the noun where it carries gender)."""
    source: str
    """Where the group comes from, e.g. ``holisticbias:ability/auditory``."""


@dataclass(frozen=True)
class Descriptor:
    text: str
    axis: str
    bucket: str
    gender: str = ""
    article: str = ""


def article(word: str, override: str = "") -> str:
    """'a' or 'an' for the sound ``word`` starts with (acronyms by letter name: "an LGBTQ")."""
    if override:
        return override
    first = word.split()[0]
    if sum(c.isupper() for c in first) >= 2:
        return "an" if first[0] in "AEFHILMNORSX" else "a"
    if first[0].isdigit():
        return "an" if first.startswith(("8", "11", "18")) else "a"
    if first.lower().startswith(("one", "eu", "uni", "use")):
        return "a"
    return "an" if first[0].lower() in "aeiou" else "a"


def domain_of(axis: str, bucket: str) -> str | None:
    return HOLISTICBIAS_AXES.get((axis, bucket), HOLISTICBIAS_AXES.get((axis, "*")))


class HolisticBias:
    """The HolisticBias source lists of one version folder, turned into groups per domain."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        raw = json.loads((folder / "descriptors.json").read_text(encoding="utf-8"))
        self.by_domain: dict[str, list[Descriptor]] = {}
        for axis, buckets in raw.items():
            for bucket, entries in buckets.items():
                domain = domain_of(axis, bucket)
                for entry in entries if domain else []:
                    e = {"descriptor": entry} if isinstance(entry, str) else entry
                    if e.get("preference") not in SKIP_PREFERENCES:
                        d = Descriptor(e["descriptor"], axis, bucket, e.get("gender", ""), e.get("article", ""))
                        self.by_domain.setdefault(domain, []).append(d)
        nouns = json.loads((folder / "nouns.json").read_text(encoding="utf-8"))
        self.nouns = [(g, s, p) for g, pairs in nouns.items() for s, p in pairs if s not in CHILD_NOUNS]

    def nouns_for(self, d: Descriptor | None, genders: tuple[str, ...]) -> list[tuple[str, str]]:
        """(singular, plural) nouns of ``genders`` that agree with a gendered descriptor."""
        return [(s, p) for g, s, p in self.nouns if g in genders and (d is None or not d.gender or g == d.gender)]

    @staticmethod
    def group(domain: str, ds: list[Descriptor], noun: tuple[str, str], terms: tuple[str, ...], source: str) -> Group:
        head = " ".join([*(d.text for d in ds), noun[0]])
        plural = " ".join([*(d.text for d in ds), noun[1]])
        return Group(domain, plural, f"{article(head, ds[0].article if ds else '')} {head}", terms, source)

    def groups(self) -> dict[str, list[Group]]:
        """Every group of every domain, in file order, without duplicate plural phrases."""
        out: dict[str, list[Group]] = {}
        every, neutral, gendered = ("female", "male", "neutral"), ("neutral",), ("female", "male")
        for domain, ds in self.by_domain.items():
            for d in ds:
                # Gender descriptors go with neutral nouns: "nonbinary parents", not "nonbinary women".
                for noun in self.nouns_for(d, neutral if d.axis == "gender_and_sex" else every):
                    out.setdefault(domain, []).append(
                        self.group(domain, [d], noun, (d.text,), f"holisticbias:{d.axis}/{d.bucket}")
                    )
        for noun in self.nouns_for(None, gendered):
            bare = self.group("gender_identity", [], noun, (noun[0],), "holisticbias:nouns")
            out.setdefault("gender_identity", []).append(bare)
        ses_domain, race_domain = INTERSECTIONS["race_x_ses"]
        ses = [d for d in self.by_domain[ses_domain] if d.axis == "socioeconomic_class"]
        for r in self.by_domain[race_domain]:
            for s in ses:
                for noun in self.nouns_for(r, every):
                    source = f"holisticbias:{s.bucket}+{r.bucket}"
                    out.setdefault("race_x_ses", []).append(
                        self.group("race_x_ses", [s, r], noun, (s.text, r.text), source)
                    )
            for noun in self.nouns_for(r, gendered):
                source = f"holisticbias:{r.bucket}+gender"
                out.setdefault("race_x_gender", []).append(
                    self.group("race_x_gender", [r], noun, (r.text, noun[0]), source)
                )
        for group in self.noun_phrases():
            out.setdefault(group.domain, []).append(group)
        return {domain: list({g.plural: g for g in gs}.values()) for domain, gs in out.items()}

    def noun_phrases(self) -> list[Group]:
        """Standalone noun phrases ("wheelchair users", "people of short stature")."""
        raw = json.loads((self.folder / "standalone_noun_phrases.json").read_text(encoding="utf-8"))
        out = []
        for axis, entries in raw.items():
            domain = domain_of(axis, "noun_phrases")
            for entry in entries if domain else []:
                e = {"noun_phrase": entry} if isinstance(entry, str) else entry
                if e.get("preference") in SKIP_PREFERENCES:
                    continue
                one = e["noun_phrase"]
                many = e.get("plural_noun_phrase", one.replace("{article} {noun}", "{noun}"))
                for _, s, p in self.nouns if "{noun}" in one else [("", "", "")]:
                    singular = one.replace("{noun}", s)
                    singular = singular.replace("{article}", article(singular.replace("{article} ", "")))
                    plural = many.replace("{article} ", "").replace("{noun}", p)
                    if plural != singular:  # a phrase with no plural form cannot fill {group}
                        source = f"holisticbias:{axis}/noun_phrases"
                        out.append(Group(domain, plural, singular, (plural,), source))
        return out


def read_toxigen(folder: Path) -> dict[str, dict[str, list[str]]]:
    """{group: {"hate": [...], "neutral": [...]}} from ``<axis>/{hate|neutral}_<group>[_sentences].txt``.

    Lines are stripped (a few end in a literal ``\\n``) and de-duplicated per group:
    ``neutral_muslim.txt`` repeats ``neutral_muslim_sentences.txt``. The first letter is
    upper-cased: the hateful lines are mostly lower case and the neutral ones not, and a
    preference model should not learn case as the cue.
    """
    out: dict[str, dict[str, list[str]]] = {}
    for path in sorted(folder.glob("*/*.txt")):
        label, _, group = path.stem.removesuffix("_sentences").partition("_")
        if label not in ("hate", "neutral") or group not in TOXIGEN_GROUPS:
            continue
        lines = out.setdefault(group, {"hate": [], "neutral": []})[label]
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.strip().removesuffix("\\n").strip().lstrip("- ").strip()
            text = text[:1].upper() + text[1:]
            if text and text not in lines:
                lines.append(text)
    return out


def toxigen_pairs(folder: Path, rng: random.Random) -> list[Row]:
    """Every (neutral, hateful) combination of every group, under a random pair form.

    ``source`` is ``toxigen:<group>:<neutral line>:<hateful line>`` (indices after de-duplication).
    """
    rows = []
    for group, lines in read_toxigen(folder).items():
        domain, phrase = TOXIGEN_GROUPS[group]
        for i, neutral in enumerate(lines["neutral"]):
            for j, hate in enumerate(lines["hate"]):
                form, template = rng.choice(PAIR_FORMS)
                rows.append(
                    {
                        "prompt": render(template, phrase, ""),
                        "domain": domain,
                        "group": phrase,
                        "terms": [phrase],
                        "form": form,
                        "source": f"toxigen:{group}:{i}:{j}",
                        "chosen": neutral,
                        "rejected": hate,
                    }
                )
    return rows


def paradetox_group_pairs(path: Path) -> list[Row]:
    """ParaDetox rewrite pairs whose toxic comment names a group, with that group's domain."""
    rows, _ = read_paradetox(path, "skip")
    out = []
    for row in rows:
        found = detect_domain(row["rejected"])
        if found:
            domain, terms = found
            out.append({**row, "domain": domain, "group": terms[0], "terms": terms})
    return out
