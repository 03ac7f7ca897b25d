"""A TCP proxy on 127.0.0.1 that injects real network faults in front of a real server.

The SFTP client under test connects to the proxy instead of the server; the proxy forwards
bytes both ways and, per connection, can misbehave the way networks do:

- `refuse_for(seconds)`: nothing listens on the port for a while (the client's connect gets
  ECONNREFUSED from the kernel), then the proxy listens again on the same port;
- `Fault.drop(after)`: after `after` bytes from the server, the connection is reset in both
  directions (a dropped link mid-download);
- `Fault.stall(after)`: after `after` bytes from the server, nothing more is forwarded while the
  connection stays open (a stalled server or a black-holed route: only a read timeout ends it);
- `Fault.reset()`: the connection is accepted and reset at once.

Faults are queued per connection (`plan`): the next connections get them in order, and every
connection after the plan is used up is forwarded untouched. The proxy counts the bytes each
connection carried, so a test can place a fault in the middle of a transfer it has measured.
"""

import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

_CHUNK = 65536


@dataclass(frozen=True)
class Fault:
    """What to do to one connection: `kind` is "pass", "drop", "stall" or "reset"."""

    kind: str = "pass"
    after: int = 0  # bytes from the server forwarded before the fault strikes

    @staticmethod
    def drop(after: int) -> "Fault":
        return Fault("drop", after)

    @staticmethod
    def stall(after: int) -> "Fault":
        return Fault("stall", after)

    @staticmethod
    def reset() -> "Fault":
        return Fault("reset", 0)


@dataclass
class ConnectionLog:
    """One proxied connection: its fault and the bytes it carried each way."""

    fault: Fault
    to_server: int = 0
    to_client: int = 0
    struck: threading.Event = field(default_factory=threading.Event)  # set when the fault happened
    closed: threading.Event = field(default_factory=threading.Event)


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN, as a dropped route or a crashed peer looks."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultyProxy:
    """Forwards 127.0.0.1:<port> to a target server, injecting the planned faults."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.plan: list[Fault] = []
        self.connections: list[ConnectionLog] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self.port = 0
        self.refused_attempts = 0

    # ------------------------------------------------------------------ life cycle

    def start(self) -> "FaultyProxy":
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, args=(listener,), name="faulty-proxy", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._close_listener()
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> "FaultyProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    # ------------------------------------------------------------------ faults

    def refuse_for(self, seconds: float) -> None:
        """Stop listening now (connects are refused by the kernel) and listen again later."""
        self._close_listener()

        def reopen() -> None:
            if not self._stopping.wait(seconds):
                self._listen()

        thread = threading.Thread(target=reopen, name="faulty-proxy-reopen", daemon=True)
        thread.start()
        self._threads.append(thread)

    def refuse_until(self, event: threading.Event, timeout: float = 60.0) -> None:
        """Stop listening now and listen again once `event` is set (or after `timeout`)."""
        self._close_listener()

        def reopen() -> None:
            event.wait(timeout)
            if not self._stopping.is_set():
                self._listen()

        thread = threading.Thread(target=reopen, name="faulty-proxy-reopen", daemon=True)
        thread.start()
        self._threads.append(thread)

    def release_stalls(self) -> None:
        """End every stalled connection with a reset (as a stall finally gives up)."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass

    @property
    def bytes_to_client(self) -> int:
        return sum(c.to_client for c in self.connections)

    # ------------------------------------------------------------------ forwarding

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # listener closed
            with self._lock:
                fault = self.plan.pop(0) if self.plan else Fault()
                log = ConnectionLog(fault)
                self.connections.append(log)
            if fault.kind == "reset":
                log.struck.set()
                _reset(client)
                log.closed.set()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                log.closed.set()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(None)
            with self._lock:
                self._open += [client, server]
            thread = threading.Thread(target=self._pump, args=(client, server, log), name="faulty-proxy-pump", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pump(self, client: socket.socket, server: socket.socket, log: ConnectionLog) -> None:
        fault = log.fault
        stalled = False
        try:
            while not self._stopping.is_set():
                watched = [client] if stalled else [client, server]
                try:
                    readable, _, _ = select.select(watched, [], [], 0.1)
                except (OSError, ValueError):
                    return
                for sock in readable:
                    try:
                        data = sock.recv(_CHUNK)
                    except OSError:
                        return
                    if not data:
                        return
                    if sock is client:
                        if not stalled:
                            server.sendall(data)
                        log.to_server += len(data)
                        continue
                    if fault.kind in ("drop", "stall") and log.to_client + len(data) >= fault.after:
                        head = data[: max(fault.after - log.to_client, 0)]
                        if head:
                            client.sendall(head)
                            log.to_client += len(head)
                        log.struck.set()
                        if fault.kind == "drop":
                            _reset(client)
                            _reset(server)
                            return
                        stalled = True  # keep the connection open, forward nothing more
                        break
                    client.sendall(data)
                    log.to_client += len(data)
        except OSError:
            return
        finally:
            for sock in (client, server):
                try:
                    sock.close()
                except OSError:
                    pass
            log.closed.set()


def wait_until(event: threading.Event, timeout: float, what: str) -> None:
    if not event.wait(timeout):
        raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


def settle(seconds: float = 0.05) -> None:
    time.sleep(seconds)
