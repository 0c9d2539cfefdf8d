"""Numbers, units and yes/no words in model replies: the one parser the judge and agreement share.

:func:`parse_numbers` reads every number in a text with its sign, scale and unit;
:func:`number_words_to_digits` writes English number words as digits; :func:`same_quantity`
compares two quantities by value, converting between units of the same dimension
(``4 g`` = ``4,000 mg``) and never across dimensions (``4 g`` != ``4 ml``); :func:`yes_no`
reads a closed lexicon of yes/no answers ("Nope." -> no, "Of course" -> yes).

Used by :mod:`guardrail.signals.answers` (answer-level agreement) and
:mod:`guardrail.runner.judge` (correctness judging), so the two never disagree about what a
number in a reply is.

**Unit table** (:data:`UNITS`): each unit has a dimension and its size in the dimension's base
unit. SI prefixes (milli = 1e-3, micro = 1e-6, centi = 1e-2, kilo = 1e3) and the non-SI units
accepted for use with the SI (minute = 60 s, hour = 3,600 s, day = 86,400 s, litre = 1 dm³)
are from the SI Brochure (BIPM, *The International System of Units*, 9th ed. 2019, Tables 7
and 8); the US customary units from NIST Special Publication 811 (2008), Appendix B (inch =
0.0254 m, foot = 0.3048 m, yard = 0.9144 m, mile = 1,609.344 m, pound = 0.45359237 kg, ounce =
28.349523125 g, US gallon = 3.785411784 L, week = 7 d). Calendar months and years have no fixed
length in seconds: they form their own dimension (year = 12 months) and are never equal to a
number of days. Temperatures (°C, °F) are never converted (the scales are affine, and a reply
in the other scale is usually a different answer); currencies are never converted.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "NO_WORDS",
    "UNITS",
    "YES_WORDS",
    "NumberMention",
    "Unit",
    "number_words_to_digits",
    "parse_numbers",
    "same_quantity",
    "same_unit",
    "unit_of",
    "yes_no",
]

# --------------------------------------------------------------------------- number words

_SMALL = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)  # noqa: SIM905
}
SCALES: dict[str, float] = {
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
    "trillion": 1e12,
    "bn": 1e9,
}
_WORD = "|".join([*_SMALL, *_TENS, "hundred", "thousand", "million", "billion", "trillion"])
# "a hundred", "one hundred and five", "twenty-five", "two thousand"
_WORDS_RUN = re.compile(
    rf"\b(?:an?\s+(?=(?:hundred|thousand|million|billion|trillion)\b))?(?:{_WORD})"
    rf"(?:(?:\s+and\s+|[\s-]+)(?:{_WORD}))*\b",
    re.IGNORECASE,
)


def _words_value(run: str) -> int:
    total, current = 0, 0
    for word in re.split(r"[\s-]+", run.lower()):
        if word in _SMALL:
            current += _SMALL[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in SCALES:
            total += max(current, 1) * int(SCALES[word])
            current = 0
    return total + current


def number_words_to_digits(text: str, *, lone_one: bool = True) -> str:
    """English number words written as digits: "twelve" -> "12", "twenty-five" -> "25", "one
    hundred and five" -> "105", "a hundred" -> "100", "two thousand" -> "2000".

    A scale word alone or after digits ("1.2 million") is left to :func:`parse_numbers`.

    Args:
        text: any text.
        lone_one: convert a lone "one" (False keeps "one of the ...", "the one on the left" as
            words unless "one" is the whole text).

    Returns:
        The text with number-word runs replaced by digits; other text unchanged. Never raises.
    """
    whole = text.strip(" \t\n.!").lower()

    def repl(m: re.Match[str]) -> str:
        run = m.group(0)
        low = run.lower()
        if low in SCALES:  # "million" alone, or after digits: a scale, not a number
            return run
        if not lone_one and low == "one" and whole != "one":
            return run
        return str(_words_value(run))

    return _WORDS_RUN.sub(repl, text)


# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """A unit: canonical ``name``, ``dimension`` and ``factor`` (its size in the dimension's
    base unit; None = never converted, only equal to itself)."""

    name: str
    dimension: str
    factor: float | None


_UNIT_ROWS: tuple[tuple[str, str, float | None, str], ...] = (
    # name, dimension, factor to base, spellings (base: g, m, l, s, month, m/s)
    ("ug", "mass", 1e-6, "µg μg ug mcg microgram micrograms"),
    ("mg", "mass", 1e-3, "mg mgs milligram milligrams milligramme milligrammes"),
    ("g", "mass", 1.0, "g gr gram grams gramme grammes"),
    ("kg", "mass", 1e3, "kg kgs kilogram kilograms kilogramme kilogrammes kilo kilos"),
    ("t", "mass", 1e6, "tonne tonnes"),
    ("lb", "mass", 453.59237, "lb lbs pound pounds"),
    ("oz", "mass", 28.349523125, "oz ounce ounces"),
    ("ml", "volume", 1e-3, "ml mls milliliter milliliters millilitre millilitres cc"),
    ("cl", "volume", 1e-2, "cl centiliter centiliters centilitre centilitres"),
    ("dl", "volume", 1e-1, "dl deciliter deciliters decilitre decilitres"),
    ("l", "volume", 1.0, "l liter liters litre litres"),
    ("gallon", "volume", 3.785411784, "gal gals gallon gallons"),
    ("mm", "length", 1e-3, "mm millimeter millimeters millimetre millimetres"),
    ("cm", "length", 1e-2, "cm centimeter centimeters centimetre centimetres"),
    ("m", "length", 1.0, "m meter meters metre metres"),
    ("km", "length", 1e3, "km kms kilometer kilometers kilometre kilometres"),
    ("inch", "length", 0.0254, "inch inches"),  # not "in": the preposition ("5 in total")
    ("ft", "length", 0.3048, "ft foot feet"),
    ("yard", "length", 0.9144, "yd yds yard yards"),
    ("mile", "length", 1609.344, "mi mile miles"),
    ("ms", "time", 1e-3, "ms millisecond milliseconds"),
    ("second", "time", 1.0, "s sec secs second seconds"),
    ("minute", "time", 60.0, "min mins minute minutes"),
    ("hour", "time", 3600.0, "h hr hrs hour hours"),
    ("day", "time", 86400.0, "d day days"),
    ("week", "time", 604800.0, "wk wks week weeks"),
    ("month", "calendar", 1.0, "month months"),
    ("year", "calendar", 12.0, "y yr yrs year years"),
    ("kmh", "speed", 1 / 3.6, "km/h kph kmh"),
    ("mph", "speed", 0.44704, "mph"),
    ("usd", "usd", None, "$ usd dollar dollars bucks"),
    ("eur", "eur", None, "€ eur euro euros"),
    ("gbp", "gbp", None, "£ gbp sterling pound-sterling"),
    ("cent", "cent", None, "cent cents ¢"),
    ("percent", "percent", None, "% percent per-cent percentage pc"),
    ("degree", "temperature", None, "° degree degrees"),
    ("celsius", "temperature", None, "°c c celsius centigrade"),
    ("fahrenheit", "temperature", None, "°f f fahrenheit"),
)

#: spelling (lower case) -> :class:`Unit`; see the module docstring for the sources.
UNITS: dict[str, Unit] = {}
for _name, _dim, _factor, _spellings in _UNIT_ROWS:
    for _s in _spellings.split():
        UNITS[_s.replace("-", " ")] = Unit(_name, _dim, _factor)
for _s in ("degrees celsius", "degree celsius", "degrees centigrade", "degrees c", "degree c"):
    UNITS[_s] = UNITS["celsius"]
for _s in ("degrees fahrenheit", "degree fahrenheit", "degrees f", "degree f"):
    UNITS[_s] = UNITS["fahrenheit"]
_BY_NAME = {u.name: u for u in UNITS.values()}


def unit_of(spelling: str) -> str | None:
    """Canonical unit name of a spelling ("kilograms" -> "kg", "$" -> "usd"), else None."""
    u = UNITS.get(spelling.strip().lower())
    return u.name if u else None


def same_unit(a: str | None, b: str | None) -> bool:
    """Two canonical units can be compared: a unit missing on one side, the same unit, units of
    one convertible dimension (``g`` and ``mg``), or "degrees" against a named temperature."""
    if not a or not b or a == b:
        return True
    ua, ub = _BY_NAME.get(a), _BY_NAME.get(b)
    if ua is None or ub is None or ua.dimension != ub.dimension:
        return False
    if ua.dimension == "temperature":
        return "degree" in (a, b)
    return ua.factor is not None and ub.factor is not None


def same_quantity(a: float, unit_a: str | None, b: float, unit_b: str | None) -> bool:
    """Equal quantities: the same value in the same unit (or with a unit on one side only), or
    equal after converting between units of one dimension (``4 g`` = ``4000 mg``: 4 x 1 g =
    4000 x 1e-3 g). Different dimensions are never equal. Relative tolerance 1e-6 after a
    conversion (1 mile = 1.609344 km exactly, but replies round), 1e-9 otherwise."""
    if not same_unit(unit_a, unit_b):
        return False
    ua, ub = _BY_NAME.get(unit_a or ""), _BY_NAME.get(unit_b or "")
    if ua and ub and ua.name != ub.name and ua.factor is not None and ub.factor is not None:
        x, y = a * ua.factor, b * ub.factor
        return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-12)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# --------------------------------------------------------------------------- numbers


@dataclass(frozen=True)
class NumberMention:
    """One number read from text.

    Attributes:
        value: signed value, scale word and fraction applied (``-1,200`` -> -1200.0, ``3/4`` ->
            0.75, ``1.5 million`` -> 1500000.0).
        unit: canonical unit name (see :data:`UNITS`) or None.
        start: offset of the digits in the text :func:`parse_numbers` read (after number words
            were written as digits); ``end``: offset just after the number and its unit.
        decimal: written with a decimal point or as a fraction.
    """

    value: float
    unit: str | None
    start: int
    end: int
    decimal: bool = False


_NUMBER = re.compile(
    # a minus sign, not a hyphen between words or numbers ("COVID-19", "10-20")
    r"(?P<sign>(?<![\w.\-\u2212\u2013])[-\u2212\u2013+](?=\s?[$\u20ac\u00a3]?\s?\.?\d)"
    r"|\b(?:minus|negative)\s+)?"
    r"(?P<cur>[$\u20ac\u00a3])?\s?"
    r"(?P<num>(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,])\d+(?:\.\d+)?(?:\s*/\s*\d+)?"
    r"|(?<![\w.])\.\d+)"
    r"(?![\d,]\d)(?P<ord>(?:st|nd|rd|th)\b)?"
    r"(?:\s*(?P<scale>thousand|million|billion|trillion|bn)\b)?"
    r"(?:\s*(?P<pct>%|percent\b|per\s+cent\b))?",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(
    r"\s*(?P<u>°\s?[cf]\b|degrees?\s+(?:celsius|centigrade|fahrenheit|c|f)\b"
    r"|[a-zµμ°¢/]+(?:\s(?:cent|sterling)\b)?)",
    re.IGNORECASE,
)


def _unit_after(text: str, end: int) -> tuple[str | None, int]:
    m = _UNIT_AFTER.match(text, end)
    if not m:
        return None, end
    raw = re.sub(r"\s+", " ", m.group("u").lower().rstrip("."))
    for cand in (raw, raw.replace(" ", ""), raw.split(" ")[0]):
        u = UNITS.get(cand)
        if u is not None:
            return u.name, m.end()
    return None, end


def parse_numbers(text: str, *, lone_one: bool = True) -> list[NumberMention]:
    """Numbers in ``text``, left to right.

    NFKC-normalised, number words written as digits first (:func:`number_words_to_digits`).
    Reads thousands separators (``100,000`` = 100000), decimals (``.5``), fractions (``3/4``),
    ordinals (``21st`` = 21), a scale word (``1.2 million``, ``3 bn``), the sign (``-20``,
    ``minus 20``; a dash after a digit or a letter is a range or a hyphen: ``10-20`` is 10 and
    20, ``COVID-19`` is 19), a currency sign before the number, ``%`` / ``percent`` and a known
    unit word right after it (:data:`UNITS`).

    Args:
        text: any text.
        lone_one: read a lone "one" as 1 (False: only when "one" is the whole text).

    Returns:
        :class:`NumberMention` list (empty when there is none); offsets refer to the converted
        text (``number_words_to_digits(unicodedata.normalize("NFKC", text), ...)``). Never
        raises.
    """
    s = number_words_to_digits(unicodedata.normalize("NFKC", text), lone_one=lone_one)
    out: list[NumberMention] = []
    for m in _NUMBER.finditer(s):
        raw = m.group("num").replace(",", "").replace(" ", "")
        try:
            if "/" in raw:
                a, b = raw.split("/")
                if float(b) == 0:
                    continue
                value = float(a) / float(b)
            else:
                value = float(raw)
        except ValueError:  # pragma: no cover - the pattern only matches digits
            continue
        sign = (m.group("sign") or "").strip().lower()
        before = s[: m.start()].rstrip()
        if sign and sign in "-\u2212\u2013" and before and before[-1].isdigit():
            sign = ""  # "10 - 20": a range, not a negative number
        if sign and sign != "+":
            value = -value
        scale = (m.group("scale") or "").lower()
        if scale:
            value *= SCALES[scale]
        end = m.end()
        unit: str | None = None
        if m.group("pct"):
            unit = "percent"
        elif m.group("cur"):
            unit = unit_of(m.group("cur"))
        elif not m.group("ord"):
            unit, end = _unit_after(s, m.end())
        if math.isfinite(value):
            decimal = "." in raw or "/" in raw
            out.append(NumberMention(value, unit, m.start("num"), end, decimal))
    return out


# --------------------------------------------------------------------------- yes / no

#: Closed lexicon of one-word and short-phrase answers that mean "yes" / "no" on their own.
#: The forms are the affirmative and negative answer classes of the Switchboard-DAMSL
#: dialogue-act manual (Jurafsky, Shriberg & Biasca 1997: "ny" yes-answers, "nn" no-answers:
#: yes, yeah, yep, uh-huh, sure, absolutely, right / no, nope, nah, not at all, of course not)
#: and the direct answers of the Circa corpus of yes/no questions (Louis, Roth & Radlinski 2020,
#: arXiv 2010.03450: "Yes", "No", "definitely", "certainly", "of course", "absolutely not",
#: "not really", "never").
YES_WORDS: frozenset[str] = frozenset(
    """yes yeah yep yup yea aye sure certainly definitely absolutely indeed correct right true
    affirmative uh-huh of-course by-all-means""".split()  # noqa: SIM905
)
NO_WORDS: frozenset[str] = frozenset(
    """no nope nah nay never false incorrect negative not-at-all not-really absolutely-not
    certainly-not definitely-not of-course-not by-no-means no-way""".split()  # noqa: SIM905
)
_YN_PHRASES = sorted(
    (w.replace("-", " ") for w in YES_WORDS | NO_WORDS if "-" in w), key=len, reverse=True
)
_YN_LEAD = re.compile(
    r"^\W*(?P<w>" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in _YN_PHRASES) + r"|"
    r"[a-z]+(?:-[a-z]+)?)(?P<after>\W*)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
# the plain answer words may go on ("Yes it is", "No it isn't"), except "no" used as a
# determiner ("no one knows", "no doubt"); every other entry must stand alone, followed by the
# end or punctuation ("Absolutely." but not "Absolutely fascinating", "Not at all." but not "not
# at all sure"); "Sure, here is ..." / "Certainly, the answer is ..." are politeness, not a yes
_LOOSE_YN = frozenset({"yes", "yeah", "yep", "yup", "no", "nope", "nah"})
_NO_DETERMINER = re.compile(
    r"(?:one|body|doubt|longer|more|matter|idea|problem|need|wonder|question|such|other|way)\b",
    re.IGNORECASE,
)
_POLITE = frozenset({"sure", "certainly"})


def yes_no(text: str) -> str | None:
    """``"yes"`` / ``"no"`` when the text opens with a word or phrase of the closed yes/no
    lexicon (:data:`YES_WORDS`, :data:`NO_WORDS`) that stands as the answer, else None.

    "yes", "yeah", "yep", "yup", "no", "nope", "nah" may be followed by more words ("Yes it
    is"), except "no" as a determiner ("No one knows", "No doubt ..."). Every other entry
    ("Absolutely not", "Not at all", "Of course", "Never") must be the whole text or be
    followed by punctuation: "Not at all sure", "Never mind" and "Absolutely fascinating" are
    not answers; "sure" and "certainly" count only before "." / "!" or alone ("Sure, here is
    ..." is politeness).

    Args:
        text: a reply or an extracted answer (markdown emphasis is ignored).

    Returns:
        ``"yes"``, ``"no"`` or None. Never raises.
    """
    if not isinstance(text, str):
        return None
    s = unicodedata.normalize("NFKC", text).replace("*", "").replace("_", " ").strip()
    m = _YN_LEAD.match(s)
    if not m:
        return None
    word = re.sub(r"\s+", " ", m.group("w").lower())
    key = word.replace(" ", "-")
    verdict = "yes" if key in YES_WORDS else "no" if key in NO_WORDS else None
    if verdict is None:
        return None
    after, rest = m.group("after"), m.group("rest").strip()
    if not rest:
        return verdict  # the whole reply (punctuation aside)
    if re.match(r"(?:and|or)\s+(?:yes|no)\b", rest, re.IGNORECASE):
        return None  # "Yes and no", "yes or no": both, so neither
    if word in _LOOSE_YN:
        if word == "no" and not after.strip() and _NO_DETERMINER.match(rest):
            return None
        return verdict
    if not after.strip():  # "not at all sure", "never mind": the phrase goes on
        return None
    if word in _POLITE and not re.match(r"[.!]", after.strip()):
        return None
    return verdict
