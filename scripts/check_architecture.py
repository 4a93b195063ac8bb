"""The house rules a linter does not know, checked by `make lint`:

- no import cycle among the modules of realtime/, counting imports inside
  functions too (a deferred import hides a cycle, it does not remove it);
- no module of realtime/, config/, bench/, tests/ or scripts/ over 400 lines
  unless its docstring says why, in a line starting "Longer than 400 lines:";
- the RFC 6455 frame header is packed in realtime/server/frames.py only, plus
  the one test helper that writes deliberately malformed frames;
- bench/ is a package of its own: it imports nothing from tests/, no
  benchmark (a module run with `python -m bench.<name>`) imports another,
  and no function of it is over 60 lines.

Exits 1 with one line per finding.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
SIZE_EXCUSE = "Longer than 400 lines:"
# What packing a frame header looks like (split so this file is not a hit).
FRAME_HEADER_PACKS = ("struct.pack(" + '"!BB', "struct.pack(" + "'!BB")
FRAME_HEADER_HOMES = {"realtime/server/frames.py", "tests/support/raw_ws.py"}
CHECKED_FOLDERS = ("realtime", "config", "bench", "tests", "scripts")
MAX_BENCH_FUNCTION_LINES = 60


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(name, path, tree, modules):
    """Every realtime module `tree` imports, wherever the import stands."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        yield from (target for target in targets if target in modules and target != name)


def import_cycles():
    paths = {module_name(path): path for path in (ROOT / "realtime").rglob("*.py")}
    graph = {
        name: set(imported_modules(name, path, ast.parse(path.read_text()), paths)) for name, path in paths.items()
    }
    # Tarjan's strongly connected components, iteratively.
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def is_benchmark(tree):
    """A module run as a program: it has an `if __name__ == "__main__":` block."""
    return any(
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        for node in tree.body
    )


def bench_findings():
    paths = sorted((ROOT / "bench").rglob("*.py"))
    trees = {module_name(path): ast.parse(path.read_text()) for path in paths}
    benchmarks = {name for name, tree in trees.items() if is_benchmark(tree) and not name.startswith("bench.peers")}
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
                )
                if any(target == "tests" or target.startswith("tests.") for target in targets):
                    yield f"{name}: imports from tests/ (bench/ must stand alone)"
                for other in benchmarks & set(targets) - {name}:
                    yield f"{name}: imports the benchmark {other} (move what they share into a library module)"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_BENCH_FUNCTION_LINES:
                    yield f"{name}.{node.name}: {lines} lines (bench/ functions stay under {MAX_BENCH_FUNCTION_LINES})"


def findings():
    yield from bench_findings()
    for cycle in import_cycles():
        yield f"import cycle: {' <-> '.join(cycle)}"
    for folder in CHECKED_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            text = path.read_text()
            lines = text.count("\n")
            if lines > MAX_LINES and SIZE_EXCUSE not in (ast.get_docstring(ast.parse(text)) or ""):
                yield f"{relative}: {lines} lines and no '{SIZE_EXCUSE}' reason in its docstring"
            if relative not in FRAME_HEADER_HOMES and any(pack in text for pack in FRAME_HEADER_PACKS):
                yield f"{relative}: packs a WebSocket frame header itself (use realtime/server/frames.py)"


def main():
    problems = list(findings())
    for problem in problems:
        print(problem)
    if not problems:
        print(
            "architecture: no import cycle, no oversized module without a reason, one frame builder, "
            "bench/ standing alone"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
