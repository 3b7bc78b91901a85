"""Writing the report's HTML5: escaping, tables whose number cells carry their value, figures, the page and its
print style (A4, a page break before each section, nothing split across pages that should not be)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

#: Shown in a table instead of a number for a joint that was never measured.
NOT_SEEN = "not in the picture"

CSS = """
:root { --ink: #1d1d1f; --muted: #585860; --line: #d4d6dc; --accent: #1b6ca8; --soft: #f3f5f8; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font: 15px/1.45 Helvetica, Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 880px;
       padding: 24px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 12px; padding-bottom: 8px; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 20px; color: var(--accent); border-bottom: 1px solid var(--line); padding-bottom: 3px;
     margin: 28px 0 8px; }
h3 { font-size: 16px; margin: 16px 0 4px; }
p { margin: 6px 0; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.missing { color: var(--muted); font-style: italic; text-align: right; }
td.span { white-space: nowrap; }
figure { margin: 8px 0 14px; break-inside: avoid; page-break-inside: avoid; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); }
figcaption { font-size: 13px; color: var(--muted); margin-top: 3px; }
.frames { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: flex-start; }
.frames figure { flex: 0 1 auto; margin: 4px 0 8px; }
.frames img { width: auto; height: auto; max-width: 100%; max-height: 300px; }
.who { display: grid; grid-template-columns: 190px minmax(0, 1fr); gap: 18px; align-items: start; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 14px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
.big { font-size: 42px; font-weight: 700; color: var(--accent); line-height: 1.1; }
.note { background: var(--soft); border-left: 4px solid var(--accent); padding: 6px 12px; font-size: 14px;
        margin: 10px 0; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  section { break-before: page; page-break-before: always; }
  section.flow { break-before: auto; page-break-before: auto; }
  .frames img { max-height: 215px; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  tr, figure, .note, dl { break-inside: avoid; page-break-inside: avoid; }
}
"""


def esc(value) -> str:
    return escape(str(value), quote=True)


def attrs(**kw) -> str:
    """`` name="value"`` pairs: ``class_`` -> ``class``, ``data_value`` -> ``data-value``; None is left out."""
    out = []
    for k, v in kw.items():
        if v is None:
            continue
        name = k.rstrip("_").replace("_", "-")
        out.append(f' {name}="{esc(v)}"')
    return "".join(out)


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and for a number the ``value`` it shows (``data-value``, as the CSV files hold
    it) and what it is (``data-measure``)."""

    text: str
    value: object = None
    measure: str | None = None
    cls: str | None = None
    extra: dict = field(default_factory=dict)

    def html(self) -> str:
        return (f"<td{attrs(class_=self.cls, data_measure=self.measure, data_value=self.value, **self.extra)}>"
                f"{esc(self.text)}</td>")


def number(value: float | None, decimals: int = 1, unit: str = "", *, measure: str | None = None,
           raw=None, missing: str = NOT_SEEN) -> Cell:
    """A number cell (``raw``: the value as the files hold it, default ``value``); ``missing`` when None."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Cell(missing, measure=measure, cls="missing")
    return Cell(f"{value:.{decimals}f}{unit}", value if raw is None else raw, measure, "num")


def table(headers: Sequence[str], rows: Iterable[Sequence[Cell | str]], *, id: str | None = None,
          numeric: Iterable[int] = ()) -> str:
    """A table; ``numeric``: indices of the columns whose header is right-aligned with their numbers."""
    numeric = set(numeric)
    head = "".join(f"<th{attrs(class_='num' if i in numeric else None, scope='col')}>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = [c.html() if isinstance(c, Cell) else f"<td>{esc(c)}</td>" for c in row]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{attrs(id=id)}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(src: str, alt: str, caption: str = "", *, width: int, height: int, kind: str = "picture") -> str:
    """An embedded picture or chart (``kind`` in ``data-kind``) with its caption."""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return (f"<figure><img{attrs(src=src, alt=alt, width=int(width), height=int(height), data_kind=kind)}>"
            f"{cap}</figure>")


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A list of ``term: value`` lines."""
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs) + "</dl>"


def paragraph(text: str, cls: str | None = None) -> str:
    return f"<p{attrs(class_=cls)}>{esc(text)}</p>"


def section(id: str, title: str, parts: Iterable[str], *, flow: bool = False) -> str:
    """A section: a new page when printed, unless ``flow`` (it follows what comes before it on its page)."""
    return (f"<section{attrs(id=id, class_='flow' if flow else None)}><h2>{esc(title)}</h2>"
            + "".join(parts) + "</section>")


def document(title: str, header: str, sections: Iterable[str], *, generator: str = "posekit") -> str:
    """The whole HTML5 document: self-contained (style inline, pictures and charts as ``data:`` URIs)."""
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="{esc(generator)}">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><header>{header}</header><main>{''.join(sections)}</main></body></html>\n")


__all__ = ["CSS", "NOT_SEEN", "Cell", "attrs", "document", "esc", "facts", "figure", "number", "paragraph",
           "section", "table"]
