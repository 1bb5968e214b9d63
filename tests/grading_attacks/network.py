"""A cell of the student's own (before 01.1) connects to the test's listeners on the
grader's machine (ATTACK["port"]: TCP on 127.0.0.1; ATTACK["udp"]: UDP; ATTACK["unix"]: an
abstract Unix socket) from socket.socket, _socket.socket, after importlib.reload(socket),
by "localhost", from a subprocess, and from a shell's /dev/tcp. The answers are right.

Honest outcome: the listeners record nothing; 3 of 3 points.
"""
# %% 01.1 before
import _socket
import importlib
import socket
import subprocess
import sys

PORT = ATTACK["port"]
tried = []


def attempt(name, connect):
    try:
        connect()
        tried.append(f"{name}: connected")
    except Exception as err:
        tried.append(f"{name}: {type(err).__name__}")


def plain(host="127.0.0.1"):
    with socket.create_connection((host, PORT), timeout=3) as connection:
        connection.sendall(b"socket.socket")


def raw():
    connection = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    connection.settimeout(3)
    connection.connect(("127.0.0.1", PORT))
    connection.send(b"_socket.socket")
    connection.close()


def udp():
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"udp", ("127.0.0.1", ATTACK["udp"]))


def unix():
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(3)
    connection.connect("\0" + ATTACK["unix"])
    connection.sendall(b"unix")
    connection.close()


attempt("socket", plain)
attempt("_socket", raw)
attempt("udp", udp)
attempt("unix", unix)
socket = importlib.reload(socket)
attempt("reloaded socket", plain)
attempt("localhost", lambda: plain("localhost"))
code = f"import socket; socket.create_connection(('127.0.0.1', {PORT}), timeout=3).sendall(b'subprocess')"
attempt("subprocess", lambda: subprocess.run([sys.executable, "-c", code], timeout=15, check=True,
                                             capture_output=True))
attempt("shell", lambda: subprocess.run(["/bin/bash", "-c", f"echo shell > /dev/tcp/127.0.0.1/{PORT}"],
                                        timeout=15, check=True, capture_output=True))
print(tried)
