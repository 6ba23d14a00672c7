"""docs/architecture.md names every module of gql_server/ (as datasette checks its docs)."""

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "gql_server"


def listed(lines: list[str], name: str, under: str | None = None) -> bool:
    """Whether the layout lists `name`: at the top, or indented under `under/`."""
    if under is None:
        return any(line.split()[:1] == [name] for line in lines if line.startswith("  "))
    for index, line in enumerate(lines):
        if line.split()[:1] == [f"{under}/"]:
            for below in lines[index + 1 :]:
                if not below.startswith("    "):
                    break
                if below.split()[:1] == [name]:
                    return True
    return False


def test_every_module_is_named_in_the_architecture_doc() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    lines = doc.splitlines()
    unnamed = []
    for module in sorted(PACKAGE.rglob("*.py")):
        relative = module.relative_to(PACKAGE)
        if module.name == "__init__.py":
            continue
        if len(relative.parts) == 1:
            named = listed(lines, module.name)
        else:
            package = relative.parts[0]
            named = listed(lines, module.name, package) or f"{package}/{module.name}" in doc
        if not named:
            unnamed.append(str(relative))
    assert unnamed == [], f"name these in docs/architecture.md: {unnamed}"


# Each room of gql_server/ and the rooms it may import from: imports run one
# way (docs/architecture.md has the picture). A room not listed fails the test.
LAYERS = [
    ["__main__"],
    ["cli"],
    ["app"],
    ["web", "demo", "delivery"],
    ["schema"],
    ["types"],
    ["context"],
    ["services"],
    ["repo"],
    ["engine", "analytics", "db", "auth", "mail"],
    ["values", "settings", "telemetry", "citus"],
    ["errors"],
]


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("gql_server")
        ):
            if node.module == "gql_server":
                found |= {f"gql_server.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gql_server")}
    return found


def test_imports_run_one_way() -> None:
    rank = {name: level for level, names in enumerate(LAYERS) for name in names}
    backwards = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        if relative.parts == ("gql_server", "__init__"):
            continue  # the package's own docstring
        mine = room(".".join(relative.parts))
        assert mine in rank, f"{relative}: add its room {mine!r} to LAYERS"
        for imported in imports_of(path):
            theirs = room(imported)
            assert theirs in rank, f"{imported}: add its room {theirs!r} to LAYERS"
            # Within a room anything goes; across rooms, only downwards (or sideways
            # between rooms of one layer is refused too: they are independent).
            if theirs != mine and rank[theirs] <= rank[mine]:
                backwards.append(f"{relative} imports {imported}")
    assert backwards == []


def test_the_readme_lists_every_setting() -> None:
    """Each setting's variable, in full or as `_SUFFIX` after one of its family."""
    from gql_server.settings import Settings

    readme = (ROOT / "README.md").read_text()
    missing = []
    for name, field in Settings.model_fields.items():
        variable = str(field.validation_alias or f"GQL_SERVER_{name.upper()}")
        words = variable.split("_")
        suffixes = [f"`_{'_'.join(words[-n:])}`" for n in range(1, len(words) - 1)]
        if f"`{variable}`" not in readme and not any(s in readme for s in suffixes):
            missing.append(variable)
    assert missing == []
