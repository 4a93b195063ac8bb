"""The benchmark figures quoted in the README and docs/ are those of the
committed result files (bench/results/), with their commands and commits.

The convention: a measured figure is followed by a marker naming the result
file (under bench/results/) and the key of the figure in it,

    p99 **70.7<!-- figure time_fanout_scale.json results[server=ours,sockets=10000].p99_ms --> ms**

(a marker may stand after the unit too). A key is dot-separated; `[k=v,...]`
picks the one element of a list whose fields have those values, `[2]` an
index. The figure must equal the file's value rounded as quoted. A document
that quotes a file also shows the file's command and names its commit. In
the README's and docs/SCALE.md's "Benchmarks" sections every figure in ms,
msg/s, KiB, MiB, GiB or × must have a marker (targets, after ≤ or ≥, are
not figures). Nothing is measured here: it reads files.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NUMBER = r"[+-]?\d[\d,]*(?:\.\d+)?"
MARKER = re.compile(r"<!-- figure (\S+) (\S+) -->")
# A number, then at most a unit, bold marks or spaces, then the marker.
MARKED = re.compile(rf"({NUMBER})((?:[^\d<>\n]){{0,14}}?)<!-- figure (\S+) (\S+) -->")
UNIT_FIGURE = re.compile(rf"(?<![\w.,])({NUMBER})(\s*(?:ms\b|msg/s|KiB|MiB|GiB|×))")
SELECTOR = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


def lookup(data, key):
    """The value at `key` in `data` (see the module docstring)."""
    value = data
    for name, selector in SELECTOR.findall(key):
        if name:
            value = value[name]
        elif selector.isdigit():
            value = value[int(selector)]
        else:
            wanted = dict(part.split("=", 1) for part in selector.split(","))
            matches = [item for item in value if all(str(item.get(k)) == v for k, v in wanted.items())]
            assert len(matches) == 1, f"{key}: [{selector}] matches {len(matches)} elements"
            value = matches[0]
    return value


def result_file(name):
    path = RESULTS / name
    assert path.is_file(), f"bench/results/{name} is quoted but not committed"
    return json.loads(path.read_text())


def normalised_command(command):
    """`.venv/bin/python bench/x.py` and `python -m bench.x` are one command."""
    command = re.sub(r"(?:\.venv/bin/)?python (?:-m )?bench[./](\w+)(?:\.py)?", r"python -m bench.\1", command)
    return " ".join(command.split())


def section(text, title):
    start = text.find(f"\n## {title}\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def markers():
    for document in DOCUMENTS:
        text = document.read_text()
        for match in MARKED.finditer(text):
            yield document, match


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_marker_follows_a_figure(document):
    text = document.read_text()
    bare = len(MARKER.findall(text)) - len(MARKED.findall(text))
    assert bare == 0, f"{document.name}: {bare} figure markers without a number just before them"


def test_quoted_figures_equal_their_result_files():
    wrong = []
    for document, match in markers():
        quoted, _, name, key = match.groups()
        value = lookup(result_file(name), key)
        decimals = len(quoted.split(".")[1]) if "." in quoted else 0
        expected = round(float(value), decimals)
        if float(quoted.replace(",", "")) != expected:
            wrong.append(f"{document.name}: {quoted} but {name} {key} is {value}")
    assert not wrong, "figures that differ from their result files:\n" + "\n".join(wrong)


def test_documents_show_the_command_and_commit_of_each_file_they_quote():
    missing = []
    for document in DOCUMENTS:
        text = document.read_text()
        flat = normalised_command(text.replace("`", " "))
        for name in sorted({match.group(3) for match in MARKED.finditer(text)}):
            data = result_file(name)
            command = normalised_command(data["command"])
            if command not in flat:
                missing.append(f"{document.name}: no command `{command}` for {name}")
            commit = (data.get("machine", {}).get("git_commit") or "").removesuffix("+changes")
            if commit and commit not in text:
                missing.append(f"{document.name}: does not name commit {commit}, which {name} measured")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(
    "document, title",
    [(ROOT / "README.md", "Benchmarks"), (ROOT / "docs" / "SCALE.md", "Benchmarks")],
    ids=["README", "SCALE"],
)
def test_every_figure_of_the_benchmark_sections_has_a_marker(document, title):
    text = section(document.read_text(), title)
    assert text, f"{document.name} has no '## {title}' section"
    text = re.sub(r"`[^`]*`", "", text)  # commands and names, not figures
    unmarked = []
    for match in UNIT_FIGURE.finditer(text):
        before = text[max(0, match.start() - 3) : match.start()]
        after = text[match.end() : match.end() + 30]
        if re.search(r"[≤≥<>]=?\s*$", before):
            continue  # a target
        if not re.match(r"\**\s*<!-- figure ", after) and not MARKER.match(text, match.end(1)):
            unmarked.append(match.group(0))
    assert not unmarked, f"{document.name} '{title}': figures without a result-file marker: {unmarked}"
