"""Return dates: the first day a person is back, read from an auto-reply (see the package docstring)."""

from dataclasses import dataclass
from datetime import date, timedelta

from .mime import (
    strip_quoted,
)
from .patterns import (
    BACK_CUE_RE,
    BODY_SCAN_CHARS,
    CUE_REACH,
    DATE_RE,
    FROM_CUE_RE,
    LIKELY_ABSENCE,
    MAX_TEXT_CHARS,
    MONTH_NUMBERS,
    RANGE_END_CUE_RE,
    RETURN_DATE_HORIZON,
    RETURN_WORD_AFTER_RE,
    UNTIL_CUE_RE,
)


@dataclass(frozen=True)
class _DateMention:
    start: int
    end: int
    year: int | None
    options: tuple[tuple[int, int], ...]  # (month, day) readings; two for "01/12" style dates
    order: str  # "dm", "md", "ambiguous" or "fixed"


def extract_return_date(text: str, received: date) -> date | None:
    """The first day the person is back, read from an auto-reply text (see the module docstring)."""
    try:
        if received is None:
            received = date.today()
        text = strip_quoted((text or "")[:MAX_TEXT_CHARS])[:BODY_SCAN_CHARS]
        mentions = _date_mentions(text)
        preferred_order = _preferred_numeric_order(mentions)
        back, until = [], []
        for index, mention in enumerate(mentions):
            cue = _cue_for(text, mentions, index)
            if cue is None:
                continue
            resolved = _resolve(mention, received, cue, preferred_order)
            if resolved is not None:
                (back if cue == "back" else until).append(resolved)
        if back:
            return back[0]
        return until[0] if until else None
    except Exception:
        return None


def _date_mentions(text: str) -> list[_DateMention]:
    mentions = []
    for match in DATE_RE.finditer(text):
        mention = _mention_from_match(match)
        if mention is not None:
            mentions.append(mention)
    return mentions


def _mention_from_match(match) -> _DateMention | None:
    groups = match.groupdict()
    start, end = match.span()
    if groups["iso_y"]:
        return _DateMention(start, end, int(groups["iso_y"]), ((int(groups["iso_m"]), int(groups["iso_d"])),), "fixed")
    if groups["dm_m"]:
        month = MONTH_NUMBERS.get(groups["dm_m"].lower().rstrip("."))
        return _DateMention(start, end, _year(groups["dm_y"]), ((month, int(groups["dm_d"])),), "fixed")
    if groups["md_m"]:
        month = MONTH_NUMBERS.get(groups["md_m"].lower().rstrip("."))
        return _DateMention(start, end, _year(groups["md_y"]), ((month, int(groups["md_d"])),), "fixed")
    if groups["dot_d"]:
        year = _year(groups["dot_y"])
        if year is None and not match.group(0).endswith("."):
            return None
        return _DateMention(start, end, year, ((int(groups["dot_m"]), int(groups["dot_d"])),), "dm")
    if groups["num_a"]:
        year = _year(groups["num_y"])
        if groups["sep"] == "-" and year is None:
            return None  # "12-15 January" is a range of days, not a date
        first, second = int(groups["num_a"]), int(groups["num_b"])
        if first == second:
            return _DateMention(start, end, year, ((first, first),), "fixed")
        day_month = (second, first) if second <= 12 else None  # (month, day) when written day first
        month_day = (first, second) if first <= 12 else None
        options = [reading for reading in (day_month, month_day) if reading]
        if not options:
            return None
        order = "ambiguous" if len(options) == 2 else ("dm" if day_month else "md")
        return _DateMention(start, end, year, tuple(options), order)
    return None


def _year(value: str | None) -> int | None:
    if not value:
        return None
    year = int(value)
    return year + 2000 if year < 100 else year


def _preferred_numeric_order(mentions: list[_DateMention]) -> str | None:
    """An unambiguous numeric date of the same text ("18/12") tells how its other numeric dates are written."""
    orders = {mention.order for mention in mentions if mention.order in ("dm", "md")}
    return orders.pop() if len(orders) == 1 else None


def _cue_for(text: str, mentions: list[_DateMention], index: int) -> str | None:
    """Whether a date is the first day back ("back"), the last day away ("until") or no return date (None)."""
    mention = mentions[index]
    previous_end = mentions[index - 1].end if index else -1000
    next_start = mentions[index + 1].start if index + 1 < len(mentions) else len(text)
    before = text[max(previous_end, mention.start - CUE_REACH - 30, 0) : mention.start]
    after = text[mention.end : min(next_start, mention.end + 60)]
    if mention.start - previous_end <= 25 and RANGE_END_CUE_RE.search(before):
        return "until"  # the end of a range: "20 Dec to 11 Jan", "vom 20.12. bis 08.01.", "du 20 au 4 janvier"
    nearest = {}
    for regex, cue in ((UNTIL_CUE_RE, "until"), (BACK_CUE_RE, "back"), (FROM_CUE_RE, "from")):
        ends = [found.end() for found in regex.finditer(before) if len(before) - found.end() <= CUE_REACH]
        if ends:
            nearest[cue] = max(ends)
    if not nearest:
        return "back" if RETURN_WORD_AFTER_RE.search(after) else None
    cue = max(nearest, key=lambda name: (nearest[name], name == "back"))
    if cue == "from":
        # "back in the office from 12 January" returns; "away from 20 Dec" does not, unless a return word follows.
        return "back" if "back" in nearest or RETURN_WORD_AFTER_RE.search(after) else None
    return cue


def _resolve(mention: _DateMention, received: date, cue: str, preferred_order: str | None) -> date | None:
    """The return day for one mention (until => +1 day), after `received` and within a year, else None."""
    options = list(mention.options)
    if mention.order == "ambiguous" and preferred_order:
        options = [options[0]] if preferred_order == "dm" else [options[1]]
    shift = timedelta(days=1) if cue == "until" else timedelta(0)
    candidates = []
    for month, day in options:
        for year in _years_for(mention.year, received):
            try:
                returned = date(year, month, day) + shift
            except (ValueError, OverflowError):
                continue
            if received < returned <= received + RETURN_DATE_HORIZON:
                candidates.append(returned)
                break
    if not candidates:
        return None
    if len(candidates) > 1:
        likely = [candidate for candidate in candidates if candidate - received <= LIKELY_ABSENCE]
        return min(likely) if likely else min(candidates)
    return candidates[0]


def _years_for(year: int | None, received: date) -> tuple[int, ...]:
    """An explicit year, else this year and the next (the first one after `received` wins)."""
    if year is not None:
        return (year,)
    return (received.year, received.year + 1)
