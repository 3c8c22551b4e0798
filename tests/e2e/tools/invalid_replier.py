#!/usr/bin/env python3
"""Answers each TCP SYN to PORT seen on DEV with a reply conntrack must call INVALID (SYN|FIN|ACK, a flag
combination no TCP sends), from inside the namespace it runs in. Stands in for a broken middlebox or
peer. Bounded: stops after COUNT replies or SECONDS. Prints "ready" once it listens, "sent N" per reply.

Usage: invalid_replier.py DEV PORT COUNT SECONDS
"""
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def main() -> None:
    dev, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sniff.bind((dev, 0x0800))
    sniff.settimeout(0.5)
    send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    sent = 0
    while sent < count and time.monotonic() < deadline:
        try:
            pkt, addr = sniff.recvfrom(2048)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING or len(pkt) < 40 or pkt[9] != socket.IPPROTO_TCP:
            continue
        ihl = (pkt[0] & 0xF) * 4
        src, dst = pkt[12:16], pkt[16:20]
        sport, dport, seq = struct.unpack("!HHI", pkt[ihl : ihl + 8])
        flags = pkt[ihl + 13]
        if dport != port or flags & 0x3F != 0x02:  # a SYN, nothing else
            continue
        tcp = struct.pack("!HHIIBBHHH", dport, sport, 4242, (seq + 1) & 0xFFFFFFFF, 5 << 4, 0x13, 65535, 0, 0)
        pseudo = dst + src + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, socket.IPPROTO_TCP, 0, dst, src)
        send.sendto(ip + tcp, (socket.inet_ntoa(src), 0))
        sent += 1
        print(f"sent {sent}", flush=True)


if __name__ == "__main__":
    main()
