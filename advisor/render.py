"""Advice as text: plain text (piped), a rich table (terminal), Markdown and JSON.

One builder (``_sections``) decides what is said; the formats only differ in syntax, like hyperfine's
exporters. Renderers receive a finished ``Recommendation`` and never evaluate rules. ``rich`` is imported
only for terminal output, so piped and scripted use stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from storeadvise.advisor.engine import Ranked, Recommendation
from storeadvise.advisor.ruleset import Rule, RuleSet
from storeadvise.errors import UsageError
from storeadvise.formatting import markdown_table, printable

if TYPE_CHECKING:
    from rich.table import Table

FORMATS: tuple[str, ...] = ("table", "text", "json", "markdown")


def _score(value: float) -> str:
    return f"{value:+g}"


def _why(r: Ranked) -> list[str]:
    lines = [f"{x.rule} {x.text}" for x in r.reasons]
    lines += [f"but {x.rule} {x.text}" for x in r.against]
    if not r.measurable:
        lines.append(f"({r.measurement})")
    return lines or ["-"]


def _title(rec: Recommendation) -> str:
    return rec.title or f"Where to keep {rec.inputs.modality} data for {rec.inputs.purpose}"


def _inputs_line(rec: Recommendation) -> str:
    parts = []
    for name, entry in rec.inputs.to_dict().items():
        shown = entry.get("display", entry["value"])
        parts.append(f"{name}={shown}" + ("" if entry["source"] == "given" else f" ({entry['source']})"))
    return "; ".join(parts)


def _ranking_rows(rec: Recommendation) -> list[tuple[str, str, str, str, list[str]]]:
    """(rank, option, label, score, why lines) for each recommended option, best first."""
    rows = []
    for i, r in enumerate(rec.recommendations, 1):
        score = _score(r.score)
        if r.measured:
            score += f" | {r.measured['display']}"
        rows.append((str(i), r.option, r.label, score, _why(r)))
    return rows


def _avoid_rows(rec: Recommendation) -> list[tuple[str, str, str]]:
    return [(r.option, _score(r.score), " ".join(f"{x.rule} {x.text}" for x in r.against[:1]))
            for r in rec.avoid]


def _evidence_rows(rec: Recommendation) -> list[tuple[str, ...]]:
    ev = rec.evidence
    return [(e.option, str(e.rule_rank), _score(e.rule_score), e.display if e.status == "ok" else
             f"{e.display} ({e.status}{': ' + e.note if e.note else ''})", str(e.measured_rank or "-"))
            for e in ev.rows]


def _details(rec: Recommendation) -> list[tuple[str, list[str]]]:
    """Sections after the ranking: runner-up, evidence verdict, caveats, what to measure, notes."""
    out: list[tuple[str, list[str]]] = []
    if rec.assumed:
        out.append(("Assumed", list(rec.assumed)))
    if rec.notes:
        out.append(("Notes", list(rec.notes)))
    if rec.tradeoff:
        out.append(("Runner-up", [rec.tradeoff]))
    if rec.evidence is not None:
        out.append(("Evidence verdict", [rec.evidence.message, *([rec.evidence.concurrency]
                                                                  if rec.evidence.concurrency else [])]))
    best = rec.best
    if best is not None:
        out.append((f"Caveats for {best.option}", list(best.caveats)))
        measure = [*rec.measure_next, *best.measure_next]
        if measure:
            out.append(("Measure next", measure))
    return out


def _explain_lines(rec: Recommendation) -> list[str]:
    lines = []
    for f in rec.fired:
        rule = f.rule
        lines.append(f"{rule.id}  {rule.title}")
        lines.append(f"    fired because: {', '.join(f.matched)}")
        lines.append(f"    effects: {rule.then_text()}")
        if rule.rationale:
            lines.append(f"    rationale: {rule.rationale}")
        for c in rule.caveats:
            lines.append(f"    caveat: {c}")
        for s in rule.source:
            lines.append(f"    source: {s}")
        if rule.origin != "built-in":
            lines.append(f"    from: {rule.origin}")
    return lines


def _fired_line(rec: Recommendation) -> str:
    return "Rules fired: " + ", ".join(f.rule.id for f in rec.fired)


# -- plain text -------------------------------------------------------------------------------------
def _columns(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()  # noqa: E731
    return [fmt(header), *(fmt(r) for r in rows)]


def render_text(rec: Recommendation, explain: bool = False) -> str:
    lines = [_title(rec), f"Inputs: {_inputs_line(rec)}", *(f"Warning: {w}" for w in rec.warnings), ""]
    rank_rows = _ranking_rows(rec)
    if rank_rows:
        flat = []
        for rank, option, _label, score, why in rank_rows:
            flat.append((rank, option, score, why[0]))
            flat += [("", "", "", w) for w in why[1:]]
        lines += _columns(flat, ("#", "option", "score", "why (rule id and reason)"))
    if rec.evidence is not None:
        lines += ["", f"Evidence: {rec.evidence.metric} on {rec.evidence.dataset or 'the data'} "
                      f"(run {rec.evidence.run_id})"]
        lines += _columns(_evidence_rows(rec), ("option", "rule rank", "rule score", rec.evidence.metric,
                                                "measured rank"))
    if rec.avoid:
        lines += ["", "Avoid:"] + ["  " + x for x in _columns(_avoid_rows(rec), ("option", "score", "why"))[1:]]
    for title, items in _details(rec):
        lines += ["", f"{title}:"] + [f"  - {x}" for x in items]
    lines += ["", _fired_line(rec) + ("" if explain else "  (--explain shows each rule)")]
    if explain:
        lines += ["", *_explain_lines(rec)]
    return "\n".join(lines) + "\n"


# -- markdown ---------------------------------------------------------------------------------------
def render_markdown(rec: Recommendation, explain: bool = False) -> str:
    lines = [f"## {_title(rec)}", "", f"Inputs: {_inputs_line(rec)}", "",
             *(f"**Warning:** {w}\n" for w in rec.warnings)]
    lines += markdown_table(("#", "option", "score", "why"),
                            [(rank, f"**{option}** ({label})", score, "<br>".join(why))
                             for rank, option, label, score, why in _ranking_rows(rec)])
    if rec.evidence is not None:
        lines += ["", f"### Evidence: {rec.evidence.metric}", ""]
        lines += markdown_table(("option", "rule rank", "rule score", rec.evidence.metric, "measured rank"),
                                _evidence_rows(rec))
    if rec.avoid:
        lines += ["", "### Avoid", "", *markdown_table(("option", "score", "why"), _avoid_rows(rec))]
    for title, items in _details(rec):
        lines += ["", f"### {title}", ""] + [f"- {x}" for x in items]
    lines += ["", _fired_line(rec)]
    if explain:
        lines += ["", "### Rules fired", "", "```", *_explain_lines(rec), "```"]
    return "\n".join(lines) + "\n"


# -- rich (terminal) --------------------------------------------------------------------------------
def _text(content: str, **style: Any) -> Any:
    """A rich ``Text`` of ``printable(content)``. Notes quote the profiled file (its name, its column
    names); once rich has added its own ANSI codes, any in the content could no longer be told apart."""
    from rich.text import Text

    return Text(printable(content), **style)


def render_rich(rec: Recommendation, explain: bool = False, width: int | None = None) -> str:
    """The terminal form: rich tables with colour, returned as a string with ANSI codes."""
    import io

    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, highlight=False)
    console.print(_text(_title(rec), style="bold"))
    console.print(_text(f"Inputs: {_inputs_line(rec)}", style="dim"))
    for warning in rec.warnings:
        console.print(_text(f"Warning: {warning}", style="bold yellow"))
    table = Table(show_lines=True)
    for name, kw in (("#", {"justify": "right"}), ("option", {"style": "bold"}), ("score", {"justify": "right"}),
                     ("why (rule id and reason)", {})):
        table.add_column(name, **kw)
    for rank, option, label, score, why in _ranking_rows(rec):
        table.add_row(rank, printable(f"{option}\n[dim]{label}[/dim]"), score, _text("\n".join(why)))
    console.print(table)
    if rec.evidence is not None:
        console.print(_rich_rows(Table(title=_text(f"Evidence: {rec.evidence.metric} (run {rec.evidence.run_id})")),
                                 ("option", "rule rank", "rule score", rec.evidence.metric, "measured rank"),
                                 _evidence_rows(rec)))
    if rec.avoid:
        console.print(_rich_rows(Table(title="Avoid", title_justify="left"), ("option", "score", "why"),
                                 _avoid_rows(rec), style="red"))
    for title, items in _details(rec):
        console.print(_text(f"{title}:", style="bold"))
        for item in items:
            console.print(_text(f"  - {item}"))
    console.print(_text(_fired_line(rec) + ("" if explain else "  (--explain shows each rule)"), style="dim"))
    for line in _explain_lines(rec) if explain else ():
        console.print(_text(line))
    return buffer.getvalue()


def _rich_rows(table: Table, head: Sequence[str], rows: Iterable[Sequence[str]], style: str = "") -> Table:
    """``table`` with a column per name in ``head`` and the given rows, every cell as plain text."""
    for name in head:
        table.add_column(name)
    for row in rows:
        table.add_row(*(_text(c) for c in row), style=style)
    return table


def render(rec: Recommendation, fmt: str = "text", explain: bool = False) -> str:
    """``rec`` in one of ``FORMATS`` (``table`` is the rich terminal form, ``text`` the plain one)."""
    if fmt == "json":
        return json.dumps(rec.to_dict(), indent=2, default=str) + "\n"
    if fmt == "markdown":
        return printable(render_markdown(rec, explain))
    if fmt == "table":
        return render_rich(rec, explain)
    if fmt == "text":
        return printable(render_text(rec, explain))
    raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


# -- notebooks --------------------------------------------------------------------------------------
ADVICE_COLUMNS: tuple[str, ...] = (
    "place", "rank", "option", "label", "score", "backend", "measurable", "measurement", "rules", "against",
    "reasons", "measured",
)
"""The columns of ``Recommendation.to_pandas()``: one row per option the advice names."""


def advice_rows(rec: Recommendation) -> list[dict[str, Any]]:
    """One row per option: the recommended ones by rank (``place`` recommended), then those to avoid."""
    rows = []
    for place, options in (("recommended", rec.recommendations), ("avoid", rec.avoid)):
        for rank, r in enumerate(options, 1):
            rows.append({
                "place": place, "rank": rank, "option": r.option, "label": r.label, "score": r.score,
                "backend": r.backend, "measurable": r.measurable, "measurement": r.measurement,
                "rules": [x.rule for x in r.reasons], "against": [x.rule for x in r.against],
                "reasons": [f"{x.rule} {x.text}" for x in (*r.reasons, *r.against)],
                "measured": r.measured.get("display") if r.measured else None,
            })
    return rows


def render_html(rec: Recommendation) -> str:
    """The advice as an HTML fragment for a notebook: the ranking with its reasons, what to avoid, and
    the details, as lists (what the text form says, in the same order)."""
    import html

    def items(lines: Iterable[str]) -> str:
        return "".join(f"<li>{html.escape(line)}</li>" for line in lines)

    parts = [f"<h3>{html.escape(_title(rec))}</h3>", f"<p>Inputs: {html.escape(_inputs_line(rec))}</p>"]
    parts += [f"<p><b>Warning:</b> {html.escape(w)}</p>" for w in rec.warnings]
    parts.append("<ol>" + "".join(
        f"<li><b>{html.escape(option)}</b> ({html.escape(label)}) {html.escape(score)}<ul>{items(why)}</ul></li>"
        for _rank, option, label, score, why in _ranking_rows(rec)) + "</ol>")
    if rec.avoid:
        parts.append("<b>Avoid</b><ul>" + items(f"{option} {score}: {why}" for option, score, why in _avoid_rows(rec))
                     + "</ul>")
    parts += [f"<b>{html.escape(title)}</b><ul>{items(lines)}</ul>" for title, lines in _details(rec)]
    parts.append(f"<p>{html.escape(_fired_line(rec))}</p>")
    return "<div>" + "\n".join(parts) + "</div>"


# -- rules listings ---------------------------------------------------------------------------------
def _rule_detail(rule: Rule) -> list[str]:
    lines = [f"{rule.id}  {rule.title}", f"  when: {rule.when_text()}"]
    lines += [f"  then: {e.option} {e.score:+g}  {e.reason}" for e in rule.then]
    if rule.rationale:
        lines.append(f"  rationale: {rule.rationale}")
    lines += [f"  caveat: {c}" for c in rule.caveats]
    lines += [f"  source: {s}" for s in rule.source]
    lines.append(f"  examples: {len(rule.examples_fire)} must fire, {len(rule.examples_skip)} must not")
    lines.append(f"  from: {rule.origin}")
    return lines


def render_rules(ruleset: RuleSet, fmt: str = "text", rule_id: str | None = None) -> str:
    """The rules as a list (or one rule in full when ``rule_id`` is given)."""
    rules = [ruleset.rule(rule_id)] if rule_id else list(ruleset.rules)
    if fmt == "json":
        data: dict[str, Any] = {
            "options": {name: {**o.__dict__, "caveats": list(o.caveats), "measure_next": list(o.measure_next),
                               "measurement": o.measurability()[1]}
                        for name, o in ruleset.options.items()},
            "rules": [r.to_dict() for r in rules],
        }
        return json.dumps(data, indent=2) + "\n"
    # A rules file is the user's text: control characters in it never reach the terminal raw.
    if rule_id:
        body = [printable(line) for line in _rule_detail(rules[0])]
        return ("\n".join(body) if fmt != "markdown" else "```\n" + "\n".join(body) + "\n```") + "\n"
    rows = [tuple(printable(c) for c in (r.id, r.title, r.when_text(), r.then_text())) for r in rules]
    header = ("id", "title", "when", "then")
    if fmt == "markdown":
        return "\n".join(markdown_table(header, rows)) + "\n"
    if fmt == "table":
        import io

        from rich.console import Console
        from rich.table import Table

        buffer = io.StringIO()
        table = Table(show_lines=False)
        for name in header:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(_text(c) for c in row))
        Console(file=buffer, force_terminal=True, highlight=False).print(table)
        return buffer.getvalue()
    if fmt != "text":
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return "\n".join(_columns(rows, header)) + f"\n\n{len(rows)} rules. `storeadvise rules ID` shows one in full.\n"
