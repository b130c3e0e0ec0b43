"""The shape of the house: no import cycles between brandflow's modules, Prefect wiring only in ``flows/``, and a
broken campaign refused by ``brandflow run`` before Prefect is even imported."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

PACKAGE = Path(__file__).resolve().parents[1] / "brandflow"

#: Modules outside flows/ that use a Prefect *client* facility inside a function, and why (never a flow or task).
LAZY_PREFECT = {
    "brandflow.cli": "--workers builds the flow's ThreadPoolTaskRunner",
    "brandflow.spec": "schedule.cron is validated by Prefect's own cron grammar",
    "brandflow.generators.bfl": "the API key may come from a Prefect Secret block",
    "brandflow.generators.gpu": "GPU slots are a Prefect global concurrency limit",
    "brandflow.publishers.s3": "credentials may come from a prefect-aws AwsCredentials block",
    "brandflow.notify": "links to the flow run in the Prefect UI",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, module: str, modules: dict[str, Path], top_level_only: bool) -> set[str]:
    """brandflow modules imported by ``tree`` (``TYPE_CHECKING`` blocks excluded; functions too if ``top_level_only``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if top_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name in modules)
            elif isinstance(child, ast.ImportFrom) and child.module:
                base = child.module if child.level == 0 else ".".join(module.split(".")[: -child.level] + [child.module])
                for a in child.names:
                    if f"{base}.{a.name}" in modules:
                        found.add(f"{base}.{a.name}")
                    elif base in modules:
                        found.add(base)
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    modules = _modules()
    trees = {m: ast.parse(p.read_text(encoding="utf-8")) for m, p in modules.items()}
    eager = {m: _imports(t, m, modules, top_level_only=True) for m, t in trees.items()}
    assert _cycles(eager) == [], "module-level imports form a cycle"
    every = {m: _imports(t, m, modules, top_level_only=False) for m, t in trees.items()}
    assert _cycles(every) == [], "imports (lazy ones included) form a cycle: a layer reaches back up"


def _decorator_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list:
                d = d.func if isinstance(d, ast.Call) else d
                names.add(d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", ""))
    return names


def _prefect_imports(tree: ast.Module) -> tuple[bool, bool]:
    """(imports prefect at module level, imports it anywhere)."""
    top = any(isinstance(n, (ast.Import, ast.ImportFrom)) and _is_prefect(n) for n in tree.body)
    anywhere = any(isinstance(n, (ast.Import, ast.ImportFrom)) and _is_prefect(n) for n in ast.walk(tree))
    return top, anywhere


def _is_prefect(node: ast.Import | ast.ImportFrom) -> bool:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return any(n == "prefect" or n.startswith(("prefect.", "prefect_")) for n in names)


def test_prefect_lives_in_flows_only():
    flows_with_decorators = set()
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top, anywhere = _prefect_imports(tree)
        decorated = _decorator_names(tree) & {"flow", "task"}
        if module.startswith("brandflow.flows"):
            flows_with_decorators |= {module} if decorated else set()
            continue
        assert not decorated, f"{module} declares a Prefect @flow/@task: move it to brandflow/flows/"
        assert not top, f"{module} imports prefect at module level: only brandflow/flows/ may"
        if anywhere:
            assert module in LAZY_PREFECT, f"{module} uses Prefect: keep it in brandflow/flows/ or justify it in LAZY_PREFECT"
    assert "brandflow.flows.campaign" in flows_with_decorators


def test_run_refuses_a_broken_campaign_before_prefect_starts(campaign_dir):
    path = campaign_dir / "campaign.yaml"
    data = yaml.safe_load(path.read_text())
    data["generator"] = {"backend": "compositer"}
    path.write_text(yaml.safe_dump(data))
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from brandflow.cli import app\n"
        f"res = CliRunner().invoke(app, ['run', {str(path)!r}])\n"
        "print(res.exit_code, 'prefect' in sys.modules, repr(res.output))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    code, prefect_loaded, output = done.stdout.strip().split(" ", 2)
    assert code == "2" and prefect_loaded == "False", done.stdout + done.stderr
    assert "Traceback" not in output + done.stderr
    assert "generator.backend: no generator named 'compositer' (did you mean 'compositor'?)" in output.replace("\\n", "")
    validate = subprocess.run([sys.executable, "-m", "brandflow.cli", "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert validate.returncode == 2 and validate.stderr.strip().replace("\n", "") in output.replace("\\n", "")
