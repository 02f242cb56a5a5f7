"""The eleven bias domains and how every source's groups map onto them.

The domains are BBQ's eleven categories (the keys of ``templates.GROUPS``), so prompt
sets and the BBQ benchmark speak of the same axes. This module holds only vocabulary
(no file reading): which HolisticBias axis/bucket and which ToxiGen target group belongs
to which domain, how a hub ``category`` value is named here, and a keyword detector for
free text (ParaDetox comments, hub rows without a category).
"""

from __future__ import annotations

import re

from biasgrpo.data.templates import GROUPS

DOMAINS: tuple[str, ...] = tuple(GROUPS)

# HolisticBias v1.1 (axis, bucket) -> domain; bucket "*" = every bucket of the axis, and
# "noun_phrases" stands for the axis's standalone noun phrases.
# Left out: nonce (made-up words), political_ideologies, cultural descriptors other than
# generations, the rest of characteristics, and gender_and_sex/queer (the same four
# words as sexual_orientation/queer, which keeps them).
HOLISTICBIAS_AXES: dict[tuple[str, str], str] = {
    ("ability", "*"): "disability_status",
    ("age", "*"): "age",
    ("cultural", "generations"): "age",
    ("gender_and_sex", "binary"): "gender_identity",
    ("gender_and_sex", "cisgender"): "gender_identity",
    ("gender_and_sex", "descriptors"): "gender_identity",
    ("gender_and_sex", "non_binary_or_gnc"): "gender_identity",
    ("gender_and_sex", "sex"): "gender_identity",
    ("gender_and_sex", "transgender"): "gender_identity",
    ("gender_and_sex", "noun_phrases"): "gender_identity",
    ("nationality", "*"): "nationality",
    ("characteristics", "immigration_status"): "nationality",
    ("body_type", "*"): "physical_appearance",
    ("race_ethnicity", "*"): "race_ethnicity",
    ("religion", "*"): "religion",
    ("socioeconomic_class", "*"): "ses",
    ("characteristics", "domestic_status"): "ses",
    ("characteristics", "job_status"): "ses",
    ("sexual_orientation", "*"): "sexual_orientation",
}

# Intersectional domains combine two axes: race x SES puts a socioeconomic descriptor
# before a race descriptor ("low-income Black parents"); race x gender puts a race
# descriptor before a gendered noun ("Latina mothers").
INTERSECTIONS: dict[str, tuple[str, str]] = {
    "race_x_ses": ("ses", "race_ethnicity"),
    "race_x_gender": ("race_ethnicity", "gender_identity"),
}

# ToxiGen demonstration target group (from the file name) -> (domain, plural noun phrase).
# ToxiGen files Jewish under race; BBQ treats it as a religion, and so do we.
TOXIGEN_GROUPS: dict[str, tuple[str, str]] = {
    "mental_disability": ("disability_status", "people with mental disabilities"),
    "physical_disability": ("disability_status", "people with physical disabilities"),
    "chinese": ("nationality", "Chinese people"),
    "immigrant": ("nationality", "immigrants"),
    "mexican": ("nationality", "Mexican people"),
    "middle_east": ("nationality", "people from the Middle East"),
    "asian": ("race_ethnicity", "Asian people"),
    "black": ("race_ethnicity", "Black people"),
    "latino": ("race_ethnicity", "Latino people"),
    "native_american": ("race_ethnicity", "Native Americans"),
    "jewish": ("religion", "Jewish people"),
    "muslim": ("religion", "Muslims"),
    "bisexual": ("sexual_orientation", "bisexual people"),
    "lgbtq": ("sexual_orientation", "LGBTQ people"),
}

# Other spellings of the domain names seen in hub datasets (after lower-casing and
# turning spaces and hyphens into underscores); BBQ's own names normalise by themselves.
CATEGORY_ALIASES: dict[str, str] = {
    "disability": "disability_status",
    "gender": "gender_identity",
    "physical": "physical_appearance",
    "appearance": "physical_appearance",
    "race": "race_ethnicity",
    "ethnicity": "race_ethnicity",
    "race_and_ethnicity": "race_ethnicity",
    "race_x_socioeconomic_status": "race_x_ses",
    "socioeconomic_status": "ses",
    "socioeconomic": "ses",
    "sexual": "sexual_orientation",
    "sexuality": "sexual_orientation",
}

_PEOPLE = r"(?:people|persons?|folks?|men|women|man|woman|guys?|kids|families|students|workers)"
# Words that name a group of one domain in free text. Kept narrow on purpose: colour
# words and "old" count only before a people noun, and generic insults are not listed.
KEYWORDS: dict[str, str] = {
    "age": rf"\b(?:old {_PEOPLE}|old farts?|elderly|boomers?|millennials?|teenagers?|seniors)\b",
    "disability_status": r"\b(?:disabled|disabilit(?:y|ies)|retard\w*|autis\w*|cripple[sd]?|wheelchairs?|deaf|blind "
    r"(?:people|person|man|woman)|mentally ill|down syndrome)\b",
    "gender_identity": r"\b(?:women|woman|girls?|females?|ladies|feminists?|trans(?:gender)?(?: (?:people|women|men))?|"
    r"transsexuals?|nonbinary|non-binary)\b",
    "nationality": r"\b(?:immigrants?|refugees?|foreigners?|mexicans?|chinese|indians?|russians?|canadians?|"
    r"(?<!african )(?<!african-)(?<!native )americans?|iranians?|iraqis?|syrians?|pakistanis?|koreans?)\b",
    "physical_appearance": rf"\b(?:fat {_PEOPLE}|fatties|obese|overweight|ugly {_PEOPLE}|skinny {_PEOPLE}|midgets?|"
    r"short (?:men|guys))\b",
    "race_ethnicity": rf"\b(?:(?:black|white|brown|asian|latino|hispanic) {_PEOPLE}|blacks|whites|"
    r"african[- ]americans?|africans?|hispanics?|latinos?|latinas?|asians?|arabs?|native americans?|n[i1]gg\w*)\b",
    "religion": r"\b(?:muslims?|islam\w*|jews?|jewish|christians?|christianity|hindus?|atheists?|catholics?|"
    r"mormons?|sikhs?|buddhists?|religio(?:n|us))\b",
    "ses": rf"\b(?:(?:poor|rich|wealthy|low[- ]income) (?:\w+ )?{_PEOPLE}|homeless|on welfare|trailer trash|"
    r"white trash|low[- ]income|working[- ]class|the poor)\b",
    "sexual_orientation": r"\b(?:gays?|lesbians?|homosexual\w*|bisexuals?|queers?|fag\w*|dykes?|homos?|lgbt\w*)\b",
}
_KEYWORD_RES = {domain: re.compile(pattern, re.IGNORECASE) for domain, pattern in KEYWORDS.items()}


def normalise_category(value: str) -> str:
    """A hub ``category`` value in this project's spelling (unknown names are kept, normalised)."""
    key = re.sub(r"[\s\-/]+", "_", value.strip().lower())
    return CATEGORY_ALIASES.get(key, key)


def detect_domain(text: str) -> tuple[str, list[str]] | None:
    """The domain a text talks about and the words that said so, or None.

    A text naming both a race and a gender (or a race and an SES group) belongs to the
    intersectional domain; otherwise the first matching domain in ``DOMAINS`` order wins.
    """
    found = {d: m.group(0) for d, r in _KEYWORD_RES.items() if (m := r.search(text))}
    for domain, (first, second) in INTERSECTIONS.items():
        if first in found and second in found:
            return domain, [found[first], found[second]]
    for domain in DOMAINS:
        if domain in found:
            return domain, [found[domain]]
    return None
