"""Console output as the link gateway keeps it: beside debug messages in one table, each stream bounded on
its own, and streamed as server-sent events to the device's own account only."""

from __future__ import annotations

import datetime

import pytest

from microvisor.cloud.clock import utc_now
from microvisor.cloud.errors import NotFound
from microvisor.cloud.store import debug_messages
from microvisor.cloud.store.device_state import device_by_sid


def test_console_output_is_kept_apart_from_debug_messages_and_bounded_on_its_own(api, service, monkeypatch):
    monkeypatch.setattr(debug_messages, "KEEP_LAST", 3)
    sid = api.register()["sid"]
    now = utc_now()
    debug = [service.link.debug_message(sid, b"debug %d" % n) for n in range(2)]
    old = service.link.console_output(sid, b"old", when=now - datetime.timedelta(minutes=11))
    written = [service.link.console_output(sid, b"> out %d\n" % n) for n in range(5)]
    assert old and written == sorted(written) and service.link.console_output(sid, b"") == 0
    with service.database.transaction() as session:
        device_id = device_by_sid(session, sid).id
        console = debug_messages.messages_after(session, device_id, 0, stream=debug_messages.CONSOLE)
        assert [row.payload for row in console] == [b"> out %d\n" % n for n in range(2, 5)]  # the newest 3
        assert [row.id for row in console] == written[2:]
        kept_debug = debug_messages.messages_after(session, device_id, 0)  # console output pushed none out
        assert [row.payload for row in kept_debug] == [b"debug 0", b"debug 1"]
        assert debug_messages.last_sequence(session, device_id) == debug[-1]
        assert debug_messages.last_sequence(session, device_id, stream="console") == written[-1]
        with pytest.raises(ValueError):
            debug_messages.last_sequence(session, device_id, stream="other")
    with pytest.raises(NotFound):
        service.link.console_output("UV" + "0" * 32, b"who?")


def test_only_the_devices_own_account_reaches_its_console(api, other_api, service):
    sid = api.register()["sid"]
    octets = {"Content-Type": "application/octet-stream"}
    for method, path in (("GET", "Console/Stream"), ("POST", "Console")):
        refused = other_api.request(method, f"/v1/Devices/{sid}/{path}", content=b"echo x\n", headers=octets)
        assert refused.status_code == 404 and refused.json()["status"] == 404
    assert api.get(f"/v1/Devices/{sid}/Console/Stream", params={"After": "x"}).status_code == 400
    no_link = api.post(f"/v1/Devices/{sid}/Console", content=b"echo x\n", headers=octets)
    assert service.worker is None and no_link.status_code == 503  # this process runs no device link
