"""The REST API's listening socket: asyncio sets TCP_NODELAY on what it accepts only if it says it is TCP."""

from __future__ import annotations

import socket

from microvisor.cli.server_cmd import _bind


def test_the_listening_socket_is_tcp_so_responses_are_not_held_back():
    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        client = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        assert accepted.proto == socket.IPPROTO_TCP  # asyncio's _set_nodelay looks at this
        accepted.close()
        client.close()
    finally:
        sock.close()
