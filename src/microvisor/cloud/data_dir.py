"""The server's data folder: platform, SQLite database, secrets key, the first account's credentials."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..common import keys
from ..common.sids import is_sid

PLATFORM_DIR = "platform"
DATABASE_FILE = "microvisor.db"
SECRETS_KEY_FILE = "secrets.key"
CREDENTIALS_FILE = "credentials.json"


class DataDirError(Exception):
    """A data folder that cannot be made or read."""


@dataclass(frozen=True)
class Credentials:
    account_sid: str
    auth_token: str


class DataDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def platform(self) -> Path:
        return self.path / PLATFORM_DIR

    @property
    def database(self) -> Path:
        return self.path / DATABASE_FILE

    @property
    def secrets_key(self) -> Path:
        return self.path / SECRETS_KEY_FILE

    @property
    def credentials(self) -> Path:
        return self.path / CREDENTIALS_FILE

    def prepare(self) -> None:
        """Make the folder (owner-only) if it does not exist."""
        try:
            if not self.path.exists():
                self.path.mkdir(mode=0o700, parents=True)
            elif not self.path.is_dir():
                raise DataDirError(f"{self.path} is not a folder")
        except OSError as exc:
            raise DataDirError(f"cannot make the data folder {self.path}: {exc.strerror or exc}") from None

    def read_credentials(self) -> Credentials | None:
        """The saved credentials, or None before the first start."""
        if not self.credentials.exists():
            return None
        try:
            data = json.loads(self.credentials.read_text())
            found = Credentials(str(data["account_sid"]), str(data["auth_token"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataDirError(f"{self.credentials} cannot be read ({exc})") from None
        if not is_sid(found.account_sid, "AC") or not found.auth_token:
            raise DataDirError(f"{self.credentials} does not hold an account SID and auth token")
        return found

    def write_credentials(self, credentials: Credentials) -> None:
        """credentials.json, readable by its owner only."""
        text = json.dumps({"account_sid": credentials.account_sid, "auth_token": credentials.auth_token},
                          indent=2) + "\n"
        try:
            keys.write_private(self.credentials, text.encode())
        except OSError as exc:
            raise DataDirError(f"cannot write {self.credentials}: {exc.strerror or exc}") from None
        os.chmod(self.credentials, 0o600)
