"""Latency of normal requests while N slow clients trickle request headers (a byte every 2 s).

usage: slow_clients.py BASE_URL [N=80] [SECONDS=20]
Prints the latency of a small greedy completion before the slow clients connect, then every
2 s while they trickle, and how many of the slow connections the server has closed at the end.
"""
import json
import socket
import sys
import threading
import time
import urllib.request

base = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 80
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 20
host, port = base.split("//")[1].split(":")


def ask():
    t0 = time.time()
    req = urllib.request.Request(base + "/v1/completions", data=json.dumps(
        {"prompt": "Hello", "max_tokens": 4, "temperature": 0}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
    return time.time() - t0


print(f"alone: {ask() * 1000:.0f} ms")
socks = []
for _ in range(n):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    socks.append(s)
closed = set()
stop = time.time() + seconds


def trickle():
    while time.time() < stop:
        for i, s in enumerate(socks):
            try:
                s.sendall(b"a")
            except OSError:
                closed.add(i)
        time.sleep(2)


t = threading.Thread(target=trickle)
t.start()
lat = []
while time.time() < stop:
    lat.append(ask())
    time.sleep(2)
t.join()
for i, s in enumerate(socks):
    s.settimeout(0.5)
    try:
        if s.recv(1) == b"":
            closed.add(i)
    except socket.timeout:
        pass
    except OSError:
        closed.add(i)
print(f"beside {n} slow clients: {len(lat)} requests, max {max(lat) * 1000:.0f} ms,"
      f" median {sorted(lat)[len(lat) // 2] * 1000:.0f} ms; {len(closed)} of {n} slow"
      f" connections closed by the server")
