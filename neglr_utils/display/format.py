"""How the book writes numbers and tables, in one place.

- `fmt`: the one number formatter (an `Interval` shows ``± half-width``);
- `Table` / `table`: numbered MyST tables in the book, HTML tables in JupyterLab;
- `glue_text`: a number or word for the chapter's prose (myst-nb's ``{glue:text}``);
- `check`: the visible check behind a qualitative word of the prose: it fails the build
  when the data of the profile the prose describes no longer say it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from IPython.display import Markdown

from ..runs.profiles import StudyProfile
from ..stats import Interval

ALGO_NAMES = {"maml": "MAML", "meta-sgd": "Meta-SGD", "meta-sgd-positive": "positive Meta-SGD"}


def fmt(value: Interval | float | int | None, kind: str = "prob", digits: int | None = None
        ) -> str:
    """The one formatter: ``kind`` in prob (0.4757), pct (47.6 %), rate/change (signed),
    p (2 significant digits), count, s (durations); an Interval shows ``± half-width``."""
    if value is None:
        return "—"
    if isinstance(value, Interval):
        text = fmt(value.mean, kind, digits)
        if math.isfinite(value.half):
            text += " ± " + fmt(value.half, "pct" if kind == "pct" else "prob", digits)
        return text
    if kind == "s":
        return duration(float(value))
    if not math.isfinite(value):
        return "n/a"
    if kind == "pct":
        return f"{100 * value:.{1 if digits is None else digits}f} %"
    if kind == "p":
        return f"{value:.2g}"
    if kind == "count":
        return f"{value:,.0f}"
    d = 4 if digits is None else digits
    if round(value, d) == 0:  # no sign on a zero, not even one left by rounding ("-0.0000")
        return f"{0:.{d}f}"
    return f"{value:+.{d}f}" if kind in ("rate", "change") else f"{value:.{d}f}"


def duration(seconds: float) -> str:
    """``"42 s"``, ``"12.5 min"`` or ``"3.2 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _columns(rows: Sequence[Mapping[str, Any]], index: str | None
             ) -> tuple[Sequence[Mapping[str, Any]], list[str]]:
    """The rows and their columns, ``index`` first."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    if index is not None and index in cols:
        cols.remove(index)
        cols.insert(0, index)
    return rows, cols


def transposed(rows: Sequence[Mapping[str, Any]], key: str, name: str = "quantity"
               ) -> list[dict[str, Any]]:
    """Rows as columns, for a table with few rows and many fields: one row per field (named
    in column ``name``), one column per input row, headed by its value of ``key``."""
    fields = [k for k in dict.fromkeys(k for r in rows for k in r) if k != key]
    return [{name: f, **{str(r[key]): r.get(f, "") for r in rows}} for f in fields]


def markdown_table(rows: Sequence[Mapping[str, Any]], caption: str = "", name: str = "",
                   index: str | None = None) -> str:
    """Rows of text as a MyST table (numbered by the book when ``name`` is given)."""
    rows, cols = _columns(rows, index)
    esc = lambda v: str("" if v is None else v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(esc(r.get(c, "")) for c in cols) + " |" for r in rows]
    if not caption and not name:
        return "\n".join(lines)
    head = f"```{{table}} {caption}\n" + (f":name: {name}\n" if name else "") + "\n"
    return head + "\n".join(lines) + "\n```"


@dataclass(frozen=True)
class Table:
    """A table for a notebook: a numbered MyST table in the book (text/markdown), an HTML
    table in JupyterLab (which shows MyST directives as raw text)."""

    rows: tuple[dict[str, Any], ...]
    caption: str = ""
    name: str = ""
    index: str | None = None

    def _repr_markdown_(self) -> str:
        return markdown_table(self.rows, self.caption, self.name, self.index)

    def _repr_html_(self) -> str:
        rows, cols = _columns(self.rows, self.index)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>"
                                        for c in cols) + "</tr>" for r in rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table(rows: Sequence[Mapping[str, Any]], caption: str = "", name: str = "",
          index: str | None = None) -> Table:
    """Display rows as a numbered table (see `Table`). No rows is an error: a chapter says
    in a sentence what is missing instead of showing an empty table."""
    if not rows:
        raise ValueError(f"table {name or caption!r} has no rows: say what is missing in the "
                         "text instead")
    return Table(tuple(dict(r) for r in rows), caption, name, index)


@dataclass(frozen=True)
class Tables:
    """Several `Table`s shown as one output (one per dataset)."""

    tables: tuple[Table, ...]

    def _repr_markdown_(self) -> str:
        return "\n\n".join(t._repr_markdown_() for t in self.tables)

    def _repr_html_(self) -> str:
        return "\n".join(t._repr_html_() for t in self.tables)


def table_group(items: Iterable[Table]) -> Tables:
    return Tables(tuple(items))




def glue_text(name: str, value: Any) -> None:
    """Make ``value`` available to the chapter's prose as ``{glue:text}`name```."""
    from myst_nb import glue  # noqa: PLC0415  (a book dependency, imported when a chapter runs)

    glue(name, value, display=False)


class ClaimNoLongerHolds(AssertionError):
    """A chapter's prose says something its data no longer say."""


def check(holds: bool, claim: str, study: StudyProfile) -> Markdown:
    """The check behind a qualitative word of the prose, shown under it.

    When the data say ``claim`` it shows "check: claim". When they do not and the prose
    describes this book profile (`StudyProfile.prose`), it raises `ClaimNoLongerHolds`:
    the build stops and the prose must change. At another profile (e.g. smoke) it shows
    a note instead.
    """
    if holds:
        return Markdown(f"<small>✓ check: {claim}</small>")
    if study.prose:
        raise ClaimNoLongerHolds(f"the chapter says: {claim!r}, and the data of profile "
                                 f"{study.name!r} no longer do; update the text")
    return Markdown(f"<small>⚠ at profile {study.name} the data do not say: {claim} (the text "
                    "describes the committed study)</small>")
