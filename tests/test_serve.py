"""The demo server: a client that resets its connection mid-download is not an error."""
import socket
import struct
import time

import pytest

from edgekit.serve import start

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)


def test_a_reset_connection_prints_no_traceback(tmp_path, capfd):
    (tmp_path / "index.html").write_text("<html></html>")
    (tmp_path / "big.bin").write_bytes(bytes(20_000_000))  # more than the socket buffers hold
    server = start({"/": tmp_path})
    try:
        for _ in range(3):
            client = socket.create_connection(("127.0.0.1", server.server_address[1]))
            client.sendall(b"GET /big.bin HTTP/1.1\r\nHost: here\r\n\r\n")
            assert client.recv(1000).startswith(b"HTTP/1.0 200")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # linger 0: a reset, as a browser tab closed mid-download
        time.sleep(1)
    finally:
        server.shutdown()
    assert "Traceback" not in capfd.readouterr().err
