"""Classify every squawk finding ec does not give, on the real-world corpus (issue 12, Measure).

    .venv/bin/python bench/corpus/build.py --out /work/corpus/realworld --mirror /work/.mirror
    .venv/bin/python bench/lint_compare.py /work/corpus/realworld \
        [--pglast-python /work/corpus/oracle-venv/bin/python] [--notes /work/notes/corpus_misses.md]

Runs squawk (``--reporter json``, default settings, as a user runs it) and ``ec lint --format
json`` on the same folder, places both tools' findings on statements, and gives each squawk
finding a class (see bench/lint_classify.py for the rules). Prints the class table and the
file-level numbers; with --notes writes the ec misses and the ec-only findings grouped by pattern.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import lint_classify as lc
from build import load_manifest


def sql_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.sql") if p.is_file())


def run_squawk(squawk: str, files: list[str]) -> list[dict[str, object]]:
    out = subprocess.run(
        [squawk, "--reporter", "json", *files], capture_output=True, text=True, check=False
    )
    return list(json.loads(out.stdout or "[]"))


def run_ec(ec: str, root: Path) -> dict[str, list[dict[str, object]]]:
    with tempfile.TemporaryDirectory() as cache:  # a cold run: no stale cached results
        env = {**os.environ, "EC_LINT_CACHE_DIR": cache}
        out = subprocess.run(
            [ec, "lint", str(root), "--format", "json"],
            capture_output=True,
            check=False,
            text=True,
            env=env,
        )
    return dict(json.loads(out.stdout))


def validity(
    files: list[str], pglast_python: str | None, squawk_rows: list[dict[str, object]]
) -> tuple[dict[str, str | None], str]:
    """path -> parse error (None = valid), and which oracle judged it."""
    if pglast_python:
        script = Path(__file__).parent / "corpus" / "validity.py"
        out = subprocess.run(
            [pglast_python, str(script)],
            input="\n".join(files),
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(out.stdout)), "libpg_query (pglast)"
    bad = {
        str(r["file"]): str(r["message"]) for r in squawk_rows if r["rule_name"] == "syntax-error"
    }
    return {f: bad.get(f) for f in files}, "squawk parser (no --pglast-python)"


def rule_tables() -> tuple[dict[str, set[str]], set[str], set[str]]:
    """squawk id -> ec ids claiming it as an equivalent; compatibility rule ids; all ec ids."""
    from expandcontract.lint.registry import all_rules
    from expandcontract.lint.rules.base import COMPAT

    equiv: dict[str, set[str]] = collections.defaultdict(set)
    for rule in all_rules():
        for sq in rule.equivalents.get("squawk", []):
            equiv[sq].add(rule.id)
    rules = all_rules()
    return equiv, {r.id for r in rules if COMPAT in r.tags}, {r.id for r in rules}


def runs_in_transaction(how: str, path: str, text: str) -> bool:
    """Whether the tool runs this file as one transaction (see manifest "transaction" and
    /work/shared/research/migration_tool_conventions.md)."""
    explicit = re.search(r"^\s*(BEGIN|START\s+TRANSACTION)\b", text, re.I | re.M) is not None
    if how == "diesel":
        meta = Path(path).with_name("metadata.toml")
        return not (meta.exists() and "run_in_transaction = false" in meta.read_text()) or explicit
    if how in ("implicit", "explicit"):
        return True
    if how == "implicit-unless-autocommit":
        return ".autocommit." not in path or explicit
    if how == "dbmate":
        return "transaction:false" not in text or explicit
    if how == "goose":
        return not re.search(r"\+goose\s+NO\s+TRANSACTION", text, re.I) or explicit
    return explicit  # in-file, none, unknown


DOWN = re.compile(r"(^|/)(down\.sql|[^/]*\.down\.sql|revert/[^/]*|verify/[^/]*|U\d[^/]*__[^/]*)$")


@dataclass
class Result:
    classes: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    misses: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    extras: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    extra_kind: dict[str, str] = field(default_factory=dict)


def _example(path: str, root: Path, span: lc.Span | None) -> str:
    rel = os.path.relpath(path, root)
    text = re.sub(r"\s+", " ", span.text)[:160] if span else "(file)"
    return f"`{rel}:{span.start if span else 1}` — `{text}`"


def compare(
    root: Path,
    squawk_rows: list[dict[str, object]],
    ec_out: dict[str, list[dict[str, object]]],
    manifest_tx: dict[str, str],
    valid: dict[str, str | None],
) -> Result:
    equiv, compat, ec_ids = rule_tables()
    ec_status = {str(f["path"]): str(f["status"]) for f in ec_out["files"]}
    ec_by_file: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    for f in ec_out["findings"]:
        ec_by_file[str(f["path"])].append(f)
    sq_by_file: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    for r in squawk_rows:
        sq_by_file[str(r["file"])].append(r)
    res = Result()
    squawk_to_ec = {ec for ids in equiv.values() for ec in ids}
    for path in sorted(set(sq_by_file) | set(ec_by_file)):
        text = Path(path).read_text(errors="replace")
        spans = lc.statement_spans(text)
        project = os.path.relpath(path, root).split(os.sep)[0]
        facts = lc.FileFacts(
            spans=spans,
            transactional=runs_in_transaction(manifest_tx.get(project, "unknown"), path, text),
            down=bool(DOWN.search(path)),
            linted_by_ec=path in ec_status,
            squawk_parse_error=any(r["rule_name"] == "syntax-error" for r in sq_by_file[path]),
            created=lc.created_tables(spans),
            down_from=lc.down_section(text),
            valid=valid.get(path) is None,
            templated=lc.templated(text),
        )
        ec_at: dict[int, set[str]] = collections.defaultdict(set)
        ec_count = collections.Counter[tuple[int, str]]()
        ec_text: dict[int, str] = collections.defaultdict(str)  # messages, lower case
        for f in ec_by_file[path]:
            at = lc.statement_at(spans, int(str(f["line"])))
            ec_at[at].add(str(f["rule"]))
            ec_count[at, str(f["rule"])] += 1
            ec_text[at] += " " + str(f["message"]).lower()
        lines = text.split("\n")
        matched = collections.Counter[tuple[int, str]]()
        ec_in_file = {str(f["rule"]) for f in ec_by_file[path]}
        sq_at: dict[int, set[str]] = collections.defaultdict(set)
        for r in sq_by_file[path]:
            rule = str(r["rule_name"])
            stmt = lc.statement_at(spans, int(str(r["line"])) + 1)  # squawk lines are 0-based
            sq_at[stmt].add(rule)
            v = lc.classify(rule, stmt, facts, ec_at, ec_in_file, equiv, compat)
            if v.cls == "matched" and rule not in lc.FILE_LEVEL | {"syntax-error"}:
                matched[stmt, rule] += 1
                # ec's findings on the statement under the same or a related id (one each)
                ids = equiv.get(rule, set()) | lc.RELATED.get(rule, set())
                if matched[stmt, rule] > sum(ec_count[stmt, e] for e in ids):
                    name = lc.flagged_name(lines, r)
                    if name and re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", ec_text[stmt]):
                        v = lc.Verdict(
                            "design choice", "one ec finding names every action of the statement"
                        )
                    else:
                        v = lc.Verdict(
                            "ec miss", f"{rule}: action not named (one ec finding per statement)"
                        )
            key = (v.cls, v.reason)
            res.classes[key] += 1
            span = spans[stmt] if 0 <= stmt < len(spans) else None
            bucket = res.examples.setdefault(key, [])
            if len(bucket) < 3:
                bucket.append(_example(path, root, span))
            if v.cls == "ec miss":
                group = (v.reason, lc.shape(span.text) if span else "")
                res.misses.setdefault(group, []).append(_example(path, root, span))
        sq_in_file = {str(r["rule_name"]) for r in sq_by_file[path]}
        for f in ec_by_file[path]:
            rule = str(f["rule"])
            stmt = lc.statement_at(spans, int(str(f["line"])))
            mine = {s for s, ids in equiv.items() if rule in ids}
            mine |= {s for s, ids in lc.RELATED.items() if rule in ids}
            seen = sq_in_file if mine & lc.FILE_LEVEL else sq_at.get(stmt, set())
            if mine & seen:
                continue
            kind = (
                "ec-only rule" if rule not in squawk_to_ec else "squawk has the rule, silent here"
            )
            res.extra_kind[rule] = kind
            span = spans[stmt] if 0 <= stmt < len(spans) else None
            group = (rule, lc.shape(span.text) if span else "")
            res.extras.setdefault(group, []).append(
                _example(path, root, span) + f" — {f['message']}"
            )
    del ec_ids
    return res


def file_numbers(
    files: list[str], valid: dict[str, str | None], ec_out: dict[str, list[dict[str, object]]]
) -> dict[str, int]:
    """A file is analysed when ec reports it with a status other than unparsed/skipped; files a
    folder walk leaves out (down files) are counted apart, they are not part of ec's claim."""
    status = {str(f["path"]): str(f["status"]) for f in ec_out["files"]}
    ok = [f for f in files if valid.get(f) is None]
    analysed = [f for f in ok if status.get(f) not in (None, "unparsed", "skipped")]
    walked = [f for f in ok if f in status]
    return {
        "files": len(files),
        "valid": len(ok),
        "linted by ec (folder walk)": len(walked),
        "analysed (valid, walked)": sum(1 for f in walked if f in analysed),
        "analysed (valid, all)": len(analysed),
    }


def report_lines(
    res: Result, numbers: dict[str, int], oracle: str, squawk_n: int, ec_n: int
) -> list[str]:
    """The tables, as printed and as put at the top of the notes."""
    out = [f"validity oracle: {oracle}"]
    out += [f"  {k}: {v}" for k, v in numbers.items()]
    walked, ok = numbers["linted by ec (folder walk)"], numbers["analysed (valid, walked)"]
    out.append(
        f"  files analysed / valid files ec lints: {ok}/{walked} = {ok / max(walked, 1):.2%}"
    )
    out.append(f"findings: squawk {squawk_n}, ec {ec_n}")
    per_class = collections.Counter[str]()
    for (cls, _), n in res.classes.items():
        per_class[cls] += n
    out += ["", "| class | squawk findings | share |", "|---|---:|---:|"]
    for cls in ("matched", "design choice", "ec right", "ec miss"):
        out.append(f"| {cls} | {per_class[cls]} | {per_class[cls] / max(squawk_n, 1):.1%} |")
    hit = per_class["matched"] + per_class["design choice"]
    out.append(
        f"recall: raw {per_class['matched'] / max(squawk_n, 1):.2f}; without ec-right "
        f"findings {hit / max(hit + per_class['ec miss'], 1):.3f}"
    )
    out += ["", "| class | reason | count | example |", "|---|---|---:|---|"]
    for (cls, reason), n in sorted(res.classes.items(), key=lambda kv: (kv[0][0], -kv[1])):
        if cls != "matched":
            out.append(f"| {cls} | {reason} | {n} | {res.examples[(cls, reason)][0][:110]} |")
    extras = collections.Counter[str]()
    for (rule, _), rows in res.extras.items():
        extras[f"{rule} ({res.extra_kind[rule]})"] += len(rows)
    out += ["", f"ec findings squawk does not give: {sum(extras.values())}"]
    out += [f"  {n:>5}  {name}" for name, n in extras.most_common()]
    return out


def write_notes(path: Path, res: Result, table: list[str], root: Path) -> None:
    lines = [
        "# Corpus misses (generated by bench/lint_compare.py — do not edit by hand)",
        "",
        f"Corpus: `{root}`. Re-run: `.venv/bin/python bench/lint_compare.py /work/corpus/realworld "
        "--pglast-python /work/corpus/oracle-venv/bin/python --notes /work/notes/corpus_misses.md`",
        "",
        "```",
        *table,
        "```",
        "",
        "## ec misses (squawk finding, no ec finding on the statement), by pattern",
        "",
    ]
    lines += _by_pattern(res.misses, lambda reason: reason, groups=8, examples=3, cut=None)
    lines += [
        "## ec findings squawk does not give (sample for false positives)",
        "",
        '"squawk has the rule, silent here" is the suspicious kind; "ec-only rule" is '
        "beyond squawk by design but still worth a look for noise.",
        "",
    ]
    lines += _by_pattern(
        res.extras, lambda rule: f"{rule} ({res.extra_kind[rule]})", groups=5, examples=2, cut=300
    )
    path.write_text("\n".join(lines) + "\n")


def _by_pattern(
    found: dict[tuple[str, str], list[str]],
    title: Callable[[str], str],
    *,
    groups: int,
    examples: int,
    cut: int | None,
) -> list[str]:
    """Markdown: one section per key (most rows first), its statement shapes and examples."""
    by_key: dict[str, list[tuple[str, list[str]]]] = collections.defaultdict(list)
    for (key, shape), rows in found.items():
        by_key[key].append((shape, rows))
    lines: list[str] = []
    for key, shapes in sorted(by_key.items(), key=lambda kv: -sum(len(r) for _, r in kv[1])):
        lines.append(f"### {title(key)} — {sum(len(r) for _, r in shapes)}")
        for shape, rows in sorted(shapes, key=lambda g: -len(g[1]))[:groups]:
            lines.append(f"- **{shape or '(no statement)'}** x {len(rows)}")
            lines += [f"  - {ex[:cut] if cut else ex}" for ex in rows[:examples]]
        lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument(
        "--pglast-python", help="a Python with pglast: PostgreSQL's parser judges validity"
    )
    parser.add_argument("--notes", type=Path, help="write misses and extras (markdown) here")
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    squawk, ec = str(bindir / "squawk"), str(bindir / "ec")
    root = args.corpus.resolve()
    files = sql_files(root)
    squawk_rows = run_squawk(squawk, files)
    ec_out = run_ec(ec, root)
    valid, oracle = validity(files, args.pglast_python, squawk_rows)
    manifest_tx = {p.name: p.transaction for p in load_manifest()}
    res = compare(root, squawk_rows, ec_out, manifest_tx, valid)
    numbers = file_numbers(files, valid, ec_out)
    table = report_lines(res, numbers, oracle, len(squawk_rows), len(ec_out["findings"]))
    print("\n".join(table))
    if args.notes:
        write_notes(args.notes, res, table, root)
        print(f"\nnotes: {args.notes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
