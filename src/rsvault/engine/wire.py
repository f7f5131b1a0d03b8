"""Messages between a backup and its read workers, over a Unix socket pair.

A message is a small pickled header plus an optional raw payload (sealed chunks, megabytes
at a time). The payload never goes through pickle: it is sent from the sender's buffers and
received straight into one buffer, so the parent copies each byte of a backup once on the
way in and once on the way out to the pack.

Frame: header length (uint32) ‖ payload length (uint64) ‖ pickle(header) ‖ payload.
"""

from __future__ import annotations

import pickle
import socket
import struct
from collections.abc import Sequence
from typing import Any

_FRAME = struct.Struct("<IQ")
# Large socket buffers let a worker hand over a whole part without waiting for each piece
# of it to be read (the kernel caps them at net.core.wmem_max / rmem_max).
BUFFER_BYTES = 8 * 1024 * 1024


def socket_pair() -> tuple[socket.socket, socket.socket]:
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for end in (parent, child):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER_BYTES)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)
    return parent, child


def send(sock: socket.socket, header: Any, payload: Sequence[bytes | memoryview] = ()) -> None:
    head = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)
    size = sum(len(part) for part in payload)
    sock.sendall(_FRAME.pack(len(head), size) + head)
    for part in payload:
        sock.sendall(part)


def receive(sock: socket.socket) -> tuple[Any, memoryview]:
    """The next header and payload; EOFError when the other end has closed."""
    head_length, size = _FRAME.unpack(_read_exactly(sock, _FRAME.size))
    header = pickle.loads(_read_exactly(sock, head_length))
    return header, memoryview(_read_exactly(sock, size)) if size else memoryview(b"")


def _read_exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    while view:
        got = sock.recv_into(view)
        if not got:
            raise EOFError("the other end closed the connection")
        view = view[got:]
    return buffer
