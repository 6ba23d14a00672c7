"""schema.graphql is what the code exports, and it keeps the API contract."""

import subprocess
import sys
from pathlib import Path

import pytest

from gql_server.schema import export_sdl

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "api-contract.graphql"


def test_schema_graphql_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_sdl(), "run: gql-server export-schema > schema.graphql"


def test_schema_keeps_the_api_contract() -> None:
    if not CONTRACT.exists():
        pytest.fail(f"the API contract is expected at {CONTRACT}")
    checker = CONTRACT.parent / "tools" / "contract_check.py"
    result = subprocess.run(
        [sys.executable, str(checker), str(CONTRACT), str(ROOT / "schema.graphql")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith("0 failed")
