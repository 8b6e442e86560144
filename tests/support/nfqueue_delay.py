"""A fixed delay on every packet of a netfilter queue: this kernel has no `tc netem`, so the
network-fault harness sends a namespace's outgoing packets to NFQUEUE (iptables) and this
process, run inside that namespace, gives each one its ACCEPT verdict DELAY_MS later. The
packets wait in the kernel (only their ids come up here), in order, and nothing else about
them changes: the same effect as `netem delay`.

Usage (as root, in the namespace): python -m tests.support.nfqueue_delay QUEUE_NUM DELAY_MS
Runs until SIGTERM; the iptables rule uses --queue-bypass, so packets pass undelayed when
this process is gone."""

from __future__ import annotations

import heapq
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
MSG_PACKET, MSG_VERDICT, MSG_CONFIG = 0, 1, 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
CFG_CMD, CFG_PARAMS, CFG_QUEUE_MAXLEN = 1, 2, 3
CMD_BIND = 1
COPY_META = 1
PACKET_HDR, VERDICT_HDR = 1, 2
NF_ACCEPT = 1


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _message(msg: int, flags: int, queue: int, attrs: bytes, seq: int = 0) -> bytes:
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack("!H", queue) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags,
                       seq, 0) + body


def _packet_ids(data: bytes) -> list[int]:
    """The packet ids in one datagram of netlink messages (acks and errors skipped)."""
    ids, off = [], 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | MSG_PACKET:
            a = off + 20
            while a + 4 <= off + length:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if atype & 0x7FFF == PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, a + 4)[0])
                a += (alen + 3) & ~3
        elif kind == NLMSG_ERROR and struct.unpack_from("=i", data, off + 16)[0] < 0:
            raise OSError(-struct.unpack_from("=i", data, off + 16)[0], "nfqueue config")
        off += (length + 3) & ~3
    return ids


def run(queue: int, delay_s: float) -> None:
    """Bind the queue and hand out delayed verdicts until SIGTERM."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((0, 0))
    s.send(_message(MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, queue,
                    _attr(CFG_CMD, struct.pack("!BBH", CMD_BIND, 0, socket.AF_UNSPEC)), 1))
    _packet_ids(s.recv(65536))
    s.send(_message(MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, queue,
                    _attr(CFG_PARAMS, struct.pack("!IB", 0, COPY_META))
                    + _attr(CFG_QUEUE_MAXLEN, struct.pack("!I", 100_000)), 2))
    _packet_ids(s.recv(65536))
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print("ready", flush=True)
    due: list[tuple[float, int]] = []
    while not stop:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, pid = heapq.heappop(due)
            s.send(_message(MSG_VERDICT, NLM_F_REQUEST, queue,
                            _attr(VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))))
        wait = max(0.0, due[0][0] - now) if due else 0.2
        try:
            readable, _, _ = select.select([s], [], [], wait)
        except InterruptedError:
            continue
        if readable:
            arrived = time.monotonic()
            for pid in _packet_ids(s.recv(1 << 20)):
                heapq.heappush(due, (arrived + delay_s, pid))
    for _, pid in due:  # let what waits go at once
        s.send(_message(MSG_VERDICT, NLM_F_REQUEST, queue,
                        _attr(VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))))


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]) / 1000)
