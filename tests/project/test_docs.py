"""The README and docs/ say what is true (issue 30): every command they show (`python main.py
CMD`, `torchrun … main.py CMD`, `python -m bench.x` or another module of the project, in code
blocks and in inline code) runs with --help and knows every option the text gives it, and every
relative link leads to a file that exists and, with #anchor, to a heading in it."""
from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROJECT_MODULES = ("bench.", "app.", "model.")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
FENCE = re.compile(r"^\s*```")


def split_fences(text: str) -> tuple[list[str], str]:
    """(the lines of the fenced code blocks, the prose with the blocks left out)."""
    code, prose, inside = [], [], False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        (code if inside else prose).append(line)
    return code, "\n".join(prose)


def block_commands(lines: list[str]) -> list[str]:
    """Commands of code blocks: backslash continuations and indented `[--option …]` lines
    (a synopsis) belong to the line above; `# comments` are dropped."""
    out: list[str] = []
    joining = False
    for raw in lines:
        line = re.sub(r"\s+#.*$", "", raw).rstrip()
        stripped = line.strip()
        if out and (joining or (raw[:1].isspace() and stripped.startswith(("[", "--")))):
            out[-1] += " " + stripped.rstrip("\\")
        else:
            out.append(stripped.rstrip("\\"))
        joining = line.endswith("\\")
    return [" ".join(c.split()) for c in out]


def commands(text: str) -> list[str]:
    code, prose = split_fences(text)
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose)]
    found = block_commands(code) + spans
    return [c for c in found if c.startswith(("python ", "torchrun "))]


def target(cmd: str) -> tuple[str, str | None, str] | None:
    """('main', subcommand or None, the rest) or ('module', name, the rest); None when the
    command is not the project's (pip, pytest)."""
    words = cmd.split()
    if "main.py" in words:
        rest = words[words.index("main.py") + 1:]
        sub = rest[0] if rest and not rest[0].startswith(("-", "[")) else None
        return "main", sub, " ".join(rest)
    if words[:2] == ["python", "-m"] and len(words) > 2 and words[2].startswith(PROJECT_MODULES):
        return "module", words[2], " ".join(words[3:])
    if len(words) > 1 and words[0] == "python" and re.fullmatch(r"bench/\w+\.py", words[1]):
        return "module", words[1][:-3].replace("/", "."), " ".join(words[2:])
    return None


def documented() -> dict[tuple[str, str | None], dict[str, set[str]]]:
    """{(kind, name): {option: the files showing it}} over every doc."""
    out: dict[tuple[str, str | None], dict[str, set[str]]] = {}
    for doc in DOCS:
        for cmd in commands(doc.read_text(encoding="utf-8")):
            t = target(cmd)
            if t is None:
                continue
            opts = out.setdefault(t[:2], {})
            for opt in OPTION.findall(t[2]):
                opts.setdefault(opt, set()).add(doc.relative_to(ROOT).as_posix())
    return out


def main_help(sub: str | None) -> str:
    import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as e:
        main.main(([sub] if sub else []) + ["--help"])
    assert e.value.code == 0, sub
    return buf.getvalue()


_RUN_MODULES = """
import contextlib, io, json, runpy, sys
out = {}
for name in sys.argv[1:]:
    sys.argv = [name, "--help"]
    buf = io.StringIO()
    code = "returned without exiting"
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_module(name, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code
    except BaseException as e:
        code = repr(e)
    out[name] = [code, buf.getvalue()]
print("@@" + json.dumps(out))
"""


def modules_help(names: list[str]) -> dict[str, list]:
    """Each module's `python -m NAME --help`, all in one child process."""
    r = subprocess.run([sys.executable, "-c", _RUN_MODULES, *names], cwd=ROOT,
                       capture_output=True, text=True, timeout=240)
    assert "@@" in r.stdout, r.stderr[-3000:]
    return json.loads(r.stdout.split("@@", 1)[1])


def unknown_options(opts: dict[str, set[str]], help_text: str) -> list[str]:
    known = set(OPTION.findall(help_text))
    return [f"{o} (in {', '.join(sorted(docs))})" for o, docs in opts.items() if o not in known]


def test_every_main_py_command_shown_runs_with_help_and_knows_its_options():
    shown = {name: opts for (kind, name), opts in documented().items() if kind == "main"}
    # the extraction finds the commands: every one is shown somewhere
    assert {"gui", "predict", "evaluate", "export", "train", "audit", "simulate",
            "report"} <= set(shown)
    problems = [f"main.py {sub}: {p}" for sub, opts in shown.items()
                for p in unknown_options(opts, main_help(sub))]
    assert not problems, problems


def test_every_module_command_shown_runs_with_help_and_knows_its_options():
    shown = {name: opts for (kind, name), opts in documented().items() if kind == "module"}
    assert {"bench.predict", "bench.loop", "bench.gpu_check",
            "app.window.shortcut_table"} <= set(shown)
    helps = modules_help(sorted(shown))
    problems = []
    for name, opts in shown.items():
        code, text = helps[name]
        if code != 0:
            problems.append(f"python -m {name} --help: exit {code}")
        problems += [f"python -m {name}: {p}" for p in unknown_options(opts, text)]
    assert not problems, problems


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]", lambda m: "_" if m.group() == "_" else "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(md: Path) -> set[str]:
    _code, prose = split_fences(md.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6} (.+)$", prose, re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def broken_links(md: Path) -> list[str]:
    _code, prose = split_fences(md.read_text(encoding="utf-8"))
    prose = re.sub(r"`[^`]*`", "", prose)
    bad = []
    for link in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", prose):
        if re.match(r"[a-z]+:", link):  # https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            bad.append(f"{md.name}: {link}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{md.name}: {link}: no heading #{anchor} in {dest.name}")
    return bad


def test_every_relative_link_resolves_to_a_file_and_a_heading():
    links = sum(len(re.findall(r"\]\((?!https?:)", d.read_text(encoding="utf-8"))) for d in DOCS)
    assert links > 20
    problems = [p for d in DOCS for p in broken_links(d)]
    assert not problems, problems


def test_the_checks_catch_a_broken_link_and_an_option_that_does_not_exist(tmp_path):
    doc = tmp_path / "doc.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## The loop (bench/loop.py)\n")
    doc.write_text("# Doc\n\n[ok](other.md#the-loop-benchlooppy) [self](#doc) [gone](nope.md)\n"
                   "[bad anchor](other.md#missing)\n\n```bash\npython main.py predict x \\\n"
                   "    --out y --no-such-option   # a comment --ignored\n```\n"
                   "and `python -m bench.loop --seeds 0`.\n", encoding="utf-8")
    assert broken_links(doc) == ["doc.md: nope.md: no such file",
                                 "doc.md: other.md#missing: no heading #missing in other.md"]
    cmds = commands(doc.read_text(encoding="utf-8"))
    assert cmds == ["python main.py predict x --out y --no-such-option",
                    "python -m bench.loop --seeds 0"]
    assert target(cmds[1]) == ("module", "bench.loop", "--seeds 0")
    assert unknown_options({"--out": {"doc.md"}, "--no-such-option": {"doc.md"}},
                           main_help("predict")) == ["--no-such-option (in doc.md)"]


def headline_rows() -> list[str]:
    """The README's headline table, a row each (without its header)."""
    section = (ROOT / "README.md").read_text().split("## Headline figures", 1)[1]
    return [line for line in section.split("\n## ", 1)[0].splitlines()
            if line.startswith("| ") and not line.startswith("| what")]


def recorded(figure: str, results: set[str]) -> bool:
    """Is the figure, at the README's precision, one that a benchmark run wrote?"""
    places = len(figure.split(".")[1])
    return any(round(float(n), places) == float(figure) for n in results)


def test_every_headline_figure_is_one_a_benchmark_recorded():
    # the README quoted 4.22 s and 2.2 ms long after bench/RESULTS.md said otherwise
    results = set(re.findall(r"\d+\.\d+", (ROOT / "bench" / "RESULTS.md").read_text()))
    rows = headline_rows()
    assert len(rows) >= 8
    stale = [(row.split("|")[1].strip(), f) for row in rows
             for f in re.findall(r"\d+\.\d+", row.split("|")[2]) if not recorded(f, results)]
    assert not stale, f"headline figures that no bench/RESULTS.md line holds: {stale}"
