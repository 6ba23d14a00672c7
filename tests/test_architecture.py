"""docs/architecture.md names every module of gql_server/ (as datasette checks its docs)."""

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
