"""The recommendation grid: first choice and runner-up for every modality x purpose, from the rules.

The README carries this table between ``<!-- recommendation-grid:start -->`` and
``<!-- recommendation-grid:end -->``; a test checks that the two agree. Regenerate it with::

    python -m storeadvise.advisor.grid --write README.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from storeadvise.advisor.engine import evaluate
from storeadvise.advisor.inputs import CHOICES, make_inputs
from storeadvise.advisor.ruleset import RuleSet, builtin_rules
from storeadvise.errors import StoreAdviseError, UsageError
from storeadvise.formatting import markdown_table

START = "<!-- recommendation-grid:start -->"
END = "<!-- recommendation-grid:end -->"


def grid_cells(ruleset: RuleSet | None = None) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(modality, purpose) -> (first choice, runner-up) with only modality and purpose given."""
    ruleset = ruleset or builtin_rules()
    cells = {}
    for modality in CHOICES["modality"]:
        for purpose in CHOICES["purpose"]:
            rec = evaluate(make_inputs({"modality": modality, "purpose": purpose}), ruleset)
            first = rec.best.option if rec.best else "-"
            cells[modality, purpose] = (first, rec.runner_up.option if rec.runner_up else None)
    return cells


def grid_markdown(ruleset: RuleSet | None = None) -> str:
    """The grid as a Markdown table (first choice in bold, runner-up after it), with a one-line legend."""
    cells = grid_cells(ruleset)
    purposes = list(CHOICES["purpose"])
    lines = [
        "What `storeadvise recommend --modality M --purpose P` ranks first (**bold**) and second, with no "
        "other inputs. Size, nesting, streaming arrival, readers and updates change the answer: run "
        "`storeadvise recommend` with them, and `--explain` for the rules.",
        "",
    ]
    rows = []
    for modality in CHOICES["modality"]:
        row = [modality]
        for purpose in purposes:
            first, second = cells[modality, purpose]
            row.append(f"**{first}**" + (f", then {second}" if second else ""))
        rows.append(row)
    lines += markdown_table(["modality / purpose", *purposes], rows)
    lines.append("")
    lines.append("_Generated from `advisor/rules.toml` by `python -m storeadvise.advisor.grid --write README.md`._")
    return "\n".join(lines) + "\n"


def readme_region(text: str) -> str:
    """The text between the grid markers of a README."""
    if START not in text or END not in text:
        raise UsageError(f"README has no {START} ... {END} region")
    return text.split(START, 1)[1].split(END, 1)[0]


def write_grid(readme: str | Path) -> bool:
    """Replace the README's grid region with the generated grid; True if the file changed."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    old = readme_region(text)
    new = "\n" + grid_markdown() + ""
    if old == new:
        return False
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    path.write_text(before + START + new + END + after, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storeadvise.advisor.grid", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="README", help="replace the grid region of this README")
    group.add_argument("--check", metavar="README", help="exit 1 if this README's grid is out of date")
    args = parser.parse_args(argv)
    try:
        if args.write:
            print(f"{args.write}: {'updated' if write_grid(args.write) else 'already up to date'}")
        elif args.check:
            current = readme_region(Path(args.check).read_text(encoding="utf-8"))
            if current != "\n" + grid_markdown():
                print(f"{args.check}: grid is out of date; run python -m storeadvise.advisor.grid --write {args.check}")
                return 1
            print(f"{args.check}: grid is up to date")
        else:
            print(grid_markdown(), end="")
    except (OSError, StoreAdviseError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
