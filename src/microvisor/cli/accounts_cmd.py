"""`microvisor server accounts …`: the operator's tenants (create, list, disable, enable), on the database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from . import params
from .output import fail, out, print_json
from .server_cmd import DEFAULT_DATA

if TYPE_CHECKING:
    from ..cloud.database import Database

app = typer.Typer(help="The service's accounts (tenants): create, list, disable, enable. Works on the "
                       "server's database directly, whether or not the server is running.",
                  no_args_is_help=True)

DATA = params.option(DEFAULT_DATA, "--data", type=params.NEW_FOLDER, help="The server's data folder.")
DATABASE = params.option(None, "--database-url", type=params.TEXT, metavar="URL",
                         help="postgresql://… (default: SQLite in the data folder).")
NAME = params.Text("a friendly name (printable, at most 200 characters)")
SID = params.argument(params.ACCOUNT_SID, metavar="ACCOUNT_SID")
JSON = typer.Option(False, "--json", help="Print JSON.")


def operator_database(data: Path, database_url: str | None) -> Database:
    """The service's database for an operator's command (made and migrated if need be)."""
    from ..cloud.service import StartupError, open_database  # the service's modules load only here

    try:
        return open_database(data, database_url)
    except StartupError as exc:
        raise fail(f"cannot open the service's database: {exc}.", 1) from None


def _row(account) -> dict:
    return {"account_sid": account.sid, "friendly_name": account.friendly_name,
            "status": "disabled" if account.disabled else "active",
            "date_created": account.date_created.isoformat()}


@app.command("create")
def create(name: str | None = params.option(None, "--name", type=NAME,
                                            help="A friendly name for the account (200 characters at most)."),
           data: Path = DATA, database_url: str | None = DATABASE, as_json: bool = JSON) -> None:
    """Make an account; its SID and auth token are printed once (the service keeps only a hash)."""
    from ..cloud.models import UNIQUE_NAME_LENGTH
    from ..cloud.store.accounts import create_account

    if name is not None and len(name) > UNIQUE_NAME_LENGTH:
        raise fail(f"--name is longer than {UNIQUE_NAME_LENGTH} characters.")
    database = operator_database(data, database_url)
    try:
        with database.transaction() as session:
            account, token = create_account(session, name or "")
            row = _row(account)
    finally:
        database.dispose()
    if as_json:
        print_json({**row, "auth_token": token})
    else:
        out.print(f"Created account {row['account_sid']} with auth token {token} (shown only once).")


@app.command("list")
def list_(data: Path = DATA, database_url: str | None = DATABASE, as_json: bool = JSON) -> None:
    """List the accounts and whether each is active."""
    from ..cloud.store.accounts import list_accounts

    database = operator_database(data, database_url)
    try:
        with database.transaction() as session:
            rows = [_row(account) for account in list_accounts(session)]
    finally:
        database.dispose()
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(box=None)
    for title in ("account", "name", "status", "created"):
        table.add_column(title, overflow="fold")
    for row in rows:
        table.add_row(row["account_sid"], row["friendly_name"] or "-", row["status"], row["date_created"])
    out.print(table)


def _set_disabled(sid: str, disabled: bool, data: Path, database_url: str | None) -> None:
    from ..cloud.store.accounts import set_disabled

    database = operator_database(data, database_url)
    try:
        with database.transaction() as session:
            set_disabled(session, sid, disabled)
    except LookupError as exc:
        raise fail(f"{exc}.", 1) from None
    finally:
        database.dispose()
    out.print(f"account {sid} {'disabled' if disabled else 'enabled'}")


@app.command("disable")
def disable(sid: str = SID, data: Path = DATA, database_url: str | None = DATABASE) -> None:
    """Disable an account: its credentials stop working and its devices' traffic is ignored."""
    _set_disabled(sid, True, data, database_url)


@app.command("enable")
def enable(sid: str = SID, data: Path = DATA, database_url: str | None = DATABASE) -> None:
    """Enable a disabled account again."""
    _set_disabled(sid, False, data, database_url)
