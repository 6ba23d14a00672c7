"""The GraphQL-over-HTTP spec's own audit (graphql-http's auditServer) against our server.

The audit runs on Node.js from tests/http_audit (graphql-http, pinned in its
package-lock.json); npm installs it on first use. It must pass with no
failures and no warnings.
"""

import os
import shutil
import subprocess
from pathlib import Path

from test_cli import Server, environment

AUDIT = Path(__file__).parent / "http_audit"


def ensure_audit_installed() -> None:
    if (AUDIT / "node_modules" / "graphql-http").exists():
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed for the GraphQL-over-HTTP audit"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=AUDIT, check=True, capture_output=True
    )


def test_graphql_over_http_audit_passes_without_warnings(
    database_dsn: str, tmp_path: Path
) -> None:
    ensure_audit_installed()
    node = shutil.which("node")
    assert node, "node is needed for the GraphQL-over-HTTP audit"
    server = Server(environment(tmp_path, database_dsn))
    try:
        result = subprocess.run(
            [node, "audit.mjs", f"{server.url}/graphql"],
            cwd=AUDIT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ},
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout.strip().splitlines()[-1])
    assert ", 0 failed, 0 warnings" in result.stdout
