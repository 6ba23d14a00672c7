"""gql-server: serve, migrate, create-user, verify-email, demo, export-schema."""

import asyncio
import logging
import logging.config
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar
from urllib.parse import urlsplit

import asyncpg
import pydantic
import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress

from gql_server.auth import Passwords
from gql_server.db import Database, Pool, create_pool, migrate
from gql_server.errors import ApiError
from gql_server.schema import export_sdl
from gql_server.settings import Settings
from gql_server.web.serving import logging_config, uvicorn_options

EPILOG = (
    "Where the data lives: DATABASE_URL (postgresql://user:password@host:port/db) when"
    " set; otherwise an embedded PostgreSQL in GQL_SERVER_DATA_DIR (default"
    " /var/lib/gql-server as root, else the per-user data directory). Every other"
    " setting is a GQL_SERVER_* variable: README.md lists them."
)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help=__doc__,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(stderr=True)
T = TypeVar("T")
# What a database that cannot be used raises: unreachable, refusing, or refusing us.
DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _settings() -> Settings:
    """The settings, or one line per invalid variable and exit 2 (never a traceback)."""
    try:
        return Settings()
    except pydantic.ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            console.print(f"[red]Invalid setting[/red] {where}: {problem['msg']}")
        raise typer.Exit(2) from None


def _where(settings: Settings) -> str:
    """The database, named without its password."""
    if not settings.database_url:
        return f"the embedded database in {settings.data_dir}"
    parts = urlsplit(settings.database_url)
    try:
        port = str(parts.port or 5432)
    except ValueError:
        port = "?"
    return f"DATABASE_URL's server {parts.hostname or '(local socket)'}:{port}"


def _cannot_use_database(settings: Settings, error: BaseException) -> NoReturn:
    cause = str(error).strip().splitlines()[0] if str(error).strip() else ""
    cause = f"{type(error).__name__}: {cause}" if cause else type(error).__name__
    console.print(f"[red]Cannot use {_where(settings)}[/red] ({cause})")
    raise typer.Exit(1)


def _with_database(work: Callable[[str], Awaitable[T]]) -> T:
    """Run `work(dsn)` with the database started (embedded or DATABASE_URL), migrated.
    A database that cannot be used is one line naming it and why, and exit 1."""
    settings = _settings()
    database = Database(settings)
    try:
        dsn = database.start()
        try:

            async def run() -> T:
                applied = await migrate(dsn)
                if applied:
                    console.print(f"Applied {len(applied)} migrations ({applied[-1]} last).")
                return await work(dsn)

            return asyncio.run(run())
        finally:
            database.stop()
    except DATABASE_ERRORS as error:
        _cannot_use_database(settings, error)


async def _nothing(dsn: str) -> None:
    return None


async def _with_pool(dsn: str, work: Callable[[Pool], Awaitable[T]]) -> T:
    # Operator commands, not requests: no statement limit (the demo's bulk rebuild of
    # 2,000 viewers' rollups takes longer than a request's 15 s).
    pool = await create_pool(dsn, min_size=1, max_size=8, command_timeout=None)
    try:
        return await work(pool)
    finally:
        await pool.close()


def _with_pool_or_exit(work: Callable[[Pool], Awaitable[T]], failure: str) -> T:
    """`work(pool)` on the migrated database; a refusal (ApiError) is one line, exit 1."""
    try:
        return _with_database(lambda dsn: _with_pool(dsn, work))
    except ApiError as error:
        console.print(f"[red]{failure}:[/red] {error.message}")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    demo: Annotated[
        bool, typer.Option(help="Load the demo event first if there is none.")
    ] = False,
) -> None:
    """Apply pending migrations, then serve GraphQL on /graphql."""
    if demo:
        _with_database(lambda dsn: _with_pool(dsn, lambda pool: _demo(pool, only_if_empty=True)))
    else:
        _with_database(_nothing)
    # The app's lifespan owns the database from here on (each worker attaches
    # to the embedded server; the last one to stop shuts it down). Worker
    # processes read their settings from the environment: what serve decides
    # goes there. Links in mail point here unless GQL_SERVER_PUBLIC_URL says
    # otherwise; the demo prints its mail unless an SMTP server is set.
    shown = f"[{host}]" if ":" in host else host
    os.environ.setdefault("GQL_SERVER_PUBLIC_URL", f"http://{shown}:{port}")
    if demo and not os.environ.get("GQL_SERVER_SMTP_URL"):
        os.environ.setdefault("GQL_SERVER_MAIL_TO_CONSOLE", "true")
    if demo:  # a few demo viewers keep watching what is live
        os.environ.setdefault("GQL_SERVER_DEMO_AUDIENCE", "true")
    if workers > 1:
        _share_metrics(port)
    settings = _settings()
    console.print(f"Dashboard: http://{host}:{port}/")
    if settings.graphiql:
        console.print(f"GraphiQL:  http://{host}:{port}/graphql")
    uvicorn.run(
        "gql_server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **uvicorn_options(settings),
    )


def _share_metrics(port: int) -> None:
    """Several processes: /metrics adds up all of theirs (prometheus-client's
    multiprocess mode), in a folder of this server's, emptied at each start (the
    values of a run that ended must not count)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # the operator's own
    folder = Path(tempfile.gettempdir()) / f"gql-server-metrics-{os.getuid()}-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


@app.command("migrate")
def migrate_command() -> None:
    """Apply pending migrations and exit."""
    _with_database(_nothing)
    console.print("The database is up to date.")


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Sign-in email (case-insensitive).")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    super_admin: Annotated[bool, typer.Option(help="Host of every event.")] = False,
) -> None:
    """Create a user (the way the first super admin is made)."""
    from gql_server.services import accounts

    async def create(pool: Pool) -> int:
        row = await accounts.create_user(
            pool,
            Passwords(_settings()),
            email=email,
            password=password,
            name=name,
            is_super_admin=super_admin,
            email_verified=True,  # the operator vouches for the address
        )
        user_id: int = row["id"]
        return user_id

    user_id = _with_pool_or_exit(create, "Cannot create the user")
    console.print(f"Created user {user_id} ({email.strip().lower()}).")


@app.command("verify-email")
def verify_email(
    email: Annotated[str, typer.Option(help="The account's sign-in email.")],
) -> None:
    """Mark an account's address verified, as its owner would by the mailed link (for
    servers that send no mail: attendee lists count verified addresses only)."""
    from gql_server.services import accounts

    async def vouch(pool: Pool) -> str:
        row = await accounts.vouch_for(pool, email=email)
        verified: str = row["email"]
        return verified

    verified = _with_pool_or_exit(vouch, "Cannot verify the address")
    console.print(f"{verified} is verified.")


@app.command()
def demo() -> None:
    """Load a realistic demo event and print the logins to try."""
    _with_database(lambda dsn: _with_pool(dsn, lambda pool: _demo(pool, only_if_empty=False)))


async def _demo(pool: Pool, *, only_if_empty: bool) -> None:
    """Load the demo event, unless it is loaded already (then its logins again) or, for
    serve --demo, the database has events of its own."""
    from gql_server import demo as demo_data

    logins = await demo_data.find_demo(pool)
    if logins is not None:
        console.print(f"The demo event is loaded already (event id {logins.event_id}).")
    elif only_if_empty and await pool.fetchval("SELECT EXISTS (SELECT 1 FROM events)"):
        console.print("The database has events of its own; not loading the demo.")
        return
    else:
        with Progress(console=console) as progress:
            task = progress.add_task("Loading the demo event", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            logins = await demo_data.load_demo(pool, Passwords(_settings()), progress=report)
        console.print("Demo event loaded.")
    console.print("Sign in on the dashboard (or with the login mutation) as:")
    for role, email in logins.accounts:
        console.print(f"  {role:<16} {email}  password: {logins.password}")
    console.print(f"  event id: {logins.event_id}")


@app.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL SDL (the text of schema.graphql)."""
    sys.stdout.write(export_sdl())


def main() -> None:
    try:
        # The same lines as the server's (GQL_SERVER_LOG_FORMAT), from the first one.
        logging.config.dictConfig(logging_config(Settings()))
    except pydantic.ValidationError:  # reported by the command (_settings)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app()
