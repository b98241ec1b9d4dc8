"""`storeadvise recommend` and `storeadvise rules` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import storeadvise
from storeadvise.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_recommend_plain_text_has_ranking_runner_up_avoid_and_rule_ids():
    result = run("recommend", "--modality", "tabular", "--purpose", "online")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Where to keep tabular data for online prediction" in out
    lines = out.splitlines()
    first = next(line for line in lines if line.startswith("1 "))
    assert "sqlite" in first and "SA502" in first
    assert "Runner-up:" in out and "Redis" in out
    assert "Avoid:" in out and "csv" in out.split("Avoid:")[1]
    assert "\x1b[" not in out, "plain text when piped"
    assert "Rules fired: SA501, SA502" in out


def test_recommend_json_schema():
    result = run("recommend", "-m", "timeseries", "-p", "batch", "--size", "40GB", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    recs = data["recommendations"]
    assert recs[0]["option"] == "parquet" and recs[0]["score"] > recs[1]["score"]
    assert all({"option", "score", "reasons"} <= set(r) for r in recs)
    assert data["inputs"]["modality"]["value"] == "time-series"
    assert data["inputs"]["size"]["display"] == "40 GB"


def test_recommend_markdown_and_explain():
    result = run("recommend", "-m", "nested", "-p", "online", "--format", "markdown", "--explain")
    assert result.exit_code == 0, result.output
    assert "| 1 | **mongo** (MongoDB) |" in result.output
    assert "### Rules fired" in result.output and "fired because: purpose=online, modality=nested" in result.output
    assert "source: " in result.output


def test_recommend_table_format_renders_with_rich():
    result = run("recommend", "-m", "images", "-p", "training", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "files_index" in result.output and "┃" in result.output


def test_recommend_with_user_rules(tmp_path: Path):
    rules = tmp_path / "ours.toml"
    rules.write_text('[[rules]]\nid = "OURS1"\ntitle = "Company standard"\nwhen = { purpose = "batch" }\n'
                     'then.duckdb = { score = 10, reason = "Our platform runs DuckDB." }\n')
    result = run("recommend", "-m", "tabular", "-p", "batch", "--rules", str(rules), "--format", "json")
    assert result.exit_code == 0, result.output
    best = json.loads(result.output)["recommendations"][0]
    assert best["option"] == "duckdb" and best["reasons"][0]["rule"] == "OURS1"


@pytest.mark.parametrize(("args", "message", "code"), [
    (["-m", "spreadsheet", "-p", "online"], "unknown modality 'spreadsheet'; choose from tabular", 2),
    (["-m", "tabular", "-p", "fun"], "unknown purpose 'fun'; choose from exploration", 2),
    (["-m", "tabular", "-p", "online", "--size", "lots"], "--size 'lots': expected a size like 500MB", 2),
    (["-m", "tabular", "-p", "online", "--readers", "everyone"], "unknown readers 'everyone'", 2),
    (["-p", "online"], "--modality", 2),
    (["-m", "tabular", "-p", "online", "--data", "no/such/file.csv"], "no such file", 2),
])
def test_bad_input_is_one_line_and_non_zero(args, message, code):
    result = run("recommend", *args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_rules_file_with_syntax_error_reports_the_line(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nid = "X"\ntitle = oops\n')
    result = run("recommend", "-m", "tabular", "-p", "online", "--rules", str(bad))
    assert result.exit_code == 2 and "not valid TOML" in result.output and "line 3" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_rules_lists_every_rule_and_shows_one_in_full():
    listing = run("rules")
    assert listing.exit_code == 0
    assert "SA501" in listing.output and "SA904" in listing.output
    one = run("rules", "SA506")
    assert one.exit_code == 0
    assert "https://www.sqlite.org/fasterthanfs.html" in one.output and "examples:" in one.output
    assert run("rules", "SA000").exit_code == 2


def test_rules_json_and_check():
    data = json.loads(run("rules", "--format", "json").output)
    assert set(data["options"]) >= {"memory", "files_index", "kafka"} and len(data["rules"]) >= 30
    assert data["options"]["warehouse"]["measurement"].startswith("advice only")
    assert data["options"]["sqlite"]["measurement"] == "measured by the sqlite backend"
    check = run("rules", "--check")
    assert check.exit_code == 0 and check.output.startswith("ok: ")


def test_rules_check_fails_on_a_wrong_example(tmp_path: Path):
    rules = tmp_path / "r.toml"
    rules.write_text('[[rules]]\nid = "U1"\ntitle = "t"\nwhen = { purpose = "online" }\n'
                     'then.sqlite = { score = 1, reason = "r." }\nexamples.skip = [{ purpose = "online" }]\n')
    result = run("rules", "--rules", str(rules), "--check")
    assert result.exit_code == 2 and "U1: example should not fire but does" in result.output


def test_every_advisor_command_documents_an_example():
    from storeadvise.advisor.commands import recommend_command, rules_command

    for command in (recommend_command, rules_command):
        assert "Example:" in command.help


def test_python_api_returns_the_same_structure_as_json():
    advice = storeadvise.recommend(modality="tabular", purpose="online")
    cli_json = json.loads(run("recommend", "-m", "tabular", "-p", "online", "--format", "json").output)
    assert advice.to_dict() == cli_json


def test_recommend_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from storeadvise.cli import cli\n"
        "r = CliRunner().invoke(cli, ['recommend', '-m', 'tabular', '-p', 'online'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = ('pyarrow', 'polars', 'duckdb', 'pymongo', 'kafka', 'confluent_kafka', 'redis', 'pandas', 'numpy',"
        " 'rich', 'lance')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_data_file_is_profiled_and_explicit_flags_win(tmp_path: Path):
    path = tmp_path / "orders.csv"
    path.write_text("id,amount\n" + "".join(f"{i},{i * 1.5}\n" for i in range(200)), encoding="utf-8")
    result = run("recommend", "--data", str(path), "--purpose", "online", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["inputs"]["modality"] == {"value": "tabular", "source": "inferred from orders.csv"}
    assert data["inputs"]["rows"]["value"] == 200
    assert any("Inferred from orders.csv" in n for n in data["notes"])
    forced = json.loads(run("recommend", "--data", str(path), "-p", "online", "-m", "nested",
                            "--format", "json").output)
    assert forced["inputs"]["modality"] == {"value": "nested", "source": "given"}


def test_unreadable_data_file_is_one_clear_line(tmp_path: Path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet at all")
    result = run("recommend", "--data", str(path), "--purpose", "online")
    assert result.exit_code != 0
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_bench_on_a_user_csv_prints_rule_and_measured_rankings(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run file is saved under ./results
    path = tmp_path / "small.csv"
    path.write_text("id,name,score\n" + "".join(f"{i},n{i % 17},{i * 0.5}\n" for i in range(2000)),
                    encoding="utf-8")
    result = run("recommend", "--data", str(path), "--purpose", "training", "--bench",
                 "--bench-backends", "csv,parquet,sqlite", "--format", "text")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1  " in out and "rule rank" in out and "measured rank" in out
    assert "Evidence verdict" in out
    data = json.loads(run("recommend", "--data", str(path), "--purpose", "training", "--bench",
                          "--bench-backends", "csv,parquet,sqlite", "--format", "json").stdout)  # progress: stderr
    rows = {r["option"]: r for r in data["evidence"]["rows"]}
    assert set(rows) == {"csv", "parquet", "sqlite"}
    assert all(r["status"] in ("ok", "flagged", "not measured") for r in rows.values())
    assert any(r["measured_rank"] == 1 for r in rows.values())


def test_bench_passes_the_server_addresses_it_is_given_and_masks_them(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run file is saved under ./results
    monkeypatch.delenv("STOREADVISE_MONGO_URI", raising=False)
    address = "mongodb://alice:hunter2@127.0.0.1:1/?serverSelectionTimeoutMS=500"
    result = run("recommend", "-m", "tabular", "-p", "online", "--bench", "--bench-backends", "mongo",
                 "--bench-rows", "200", "--mongo-uri", address, "--format", "json")
    # the advice is printed, and the exit code says the evidence is partial, as bench's does
    assert result.exit_code == 6, result.output
    assert "partial evidence: mongo skipped: cannot reach MongoDB" in result.stderr.splitlines()[-1]
    assert "hunter2" not in result.output  # the table, the progress lines and the error on stderr
    (row,) = json.loads(result.stdout)["evidence"]["rows"]
    assert row["option"] == "mongo"
    assert "cannot reach MongoDB at mongodb://alice:***@127.0.0.1:1/" in row["note"]
    (saved,) = (tmp_path / "results").iterdir()
    assert "hunter2" not in saved.read_text()
