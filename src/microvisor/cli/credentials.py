"""Where the CLI finds the service: MICROVISOR_URL/ACCOUNT_SID/AUTH_TOKEN, or the `login` profile."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..common.api_client import ApiClient, ApiError
from . import params
from .output import fail

ENV_URL, ENV_SID, ENV_TOKEN = "MICROVISOR_URL", "MICROVISOR_ACCOUNT_SID", "MICROVISOR_AUTH_TOKEN"


def profile_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "microvisor" / "profile.json"


def save_profile(url: str, account_sid: str, auth_token: str) -> Path:
    """Write the profile readable by its owner only."""
    path = profile_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"url": url, "account_sid": account_sid, "auth_token": auth_token}, out)
    os.replace(temporary, path)
    return path


def client(url: str | None = None) -> ApiClient:
    """A client from the environment (which wins) or the saved profile; one sentence if neither, or if
    a value there is malformed (each is checked by the type its option has: a URL, a SID, a token).

    `url` names the service instead (already checked), with the account's credentials from the same
    places."""
    profile: dict = {}
    path = profile_path()
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError):
            loaded = None
        if not isinstance(loaded, dict):
            raise fail(f"the profile {path} is damaged; run `microvisor login` again.")
        profile = loaded
    url = url or os.environ.get(ENV_URL) or profile.get("url")
    sid = os.environ.get(ENV_SID) or profile.get("account_sid")
    token = os.environ.get(ENV_TOKEN) or profile.get("auth_token")
    if not (url and sid and token):
        raise fail(f"no service credentials: set {ENV_URL}, {ENV_SID} and {ENV_TOKEN}, "
                   "or run `microvisor login`.")
    checked = []
    for name, value, kind in ((ENV_URL, url, params.SERVICE_URL), (ENV_SID, sid, params.ACCOUNT_SID),
                              (ENV_TOKEN, token, params.AUTH_TOKEN)):
        try:
            checked.append(kind.check(str(value)))
        except ValueError as exc:
            source = name if os.environ.get(name) else f"the profile {path}"
            raise fail(f"{source}: {exc}") from None
    try:
        return ApiClient(*checked)
    except ApiError as exc:
        raise fail(str(exc)) from None
