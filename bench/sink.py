"""SMTP sinks for bench/send.py that count what arrives per recipient.

Postfix's ``smtp-sink`` (C, nearly free of CPU) dumps each message to a file in /dev/shm whose
envelope lines are counted afterwards. With relay latency, a small TCP proxy in front of it
holds each of the sink's answers back by the latency (smtp-sink itself only delays by whole
seconds); the proxy only forwards bytes, so it costs little CPU. Without Postfix: an aiosmtpd
sink in its own process (slower: it parses every line in Python), which says so in the JSON.
Run alone: .venv/bin/python -m bench.sink --port P --latency-ms L --counts FILE
           .venv/bin/python -m bench.sink --port P --latency-ms L --upstream PORT   (the proxy)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HEADER_BYTES = 4096  # smtp-sink's own envelope lines come first in each dump


class Sink:
    """A sink on 127.0.0.1:port; ``counts()`` says how many messages each recipient got since ``clear()``."""

    def __init__(self, port: int, latency_ms: float, folder: Path) -> None:
        self.port, self.latency_ms, self.folder = port, latency_ms, folder
        self.process: subprocess.Popen[bytes] | None = None
        self.kind = "smtp-sink" if shutil.which("smtp-sink") else "aiosmtpd"
        self.proxy: subprocess.Popen[bytes] | None = None
        self.sink_port = _free_port() if self.kind == "smtp-sink" and latency_ms else port
        memory = Path("/dev/shm")  # noqa: S108  (a private mkdtemp inside it: 64 KB a message, kept off the disk)
        self.dumps = Path(tempfile.mkdtemp(prefix="kairan-sink-", dir=memory if memory.is_dir() else None))

    def start(self) -> None:
        if self.kind == "smtp-sink":
            os.chmod(self.dumps, 0o777)  # noqa: S103  (smtp-sink drops root for the postfix user; a scratch folder)
            user = ["-u", "postfix"] if os.geteuid() == 0 else []
            argv = ["smtp-sink", *user, "-d", f"{self.dumps}/%H%M%S", f"127.0.0.1:{self.sink_port}", "1024"]
            if self.latency_ms:
                self.proxy = subprocess.Popen([sys.executable, "-m", "bench.sink", "--port", str(self.port),
                                               "--latency-ms", str(self.latency_ms),
                                               "--upstream", str(self.sink_port)])
        else:
            argv = [sys.executable, "-m", "bench.sink", "--port", str(self.port), "--latency-ms",
                    str(self.latency_ms), "--counts", str(self.folder / "sink-counts.json")]
        self.process = subprocess.Popen(argv)
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the {self.kind} sink did not start")
            time.sleep(0.05)

    def counts(self) -> Counter[str]:
        """Return messages per recipient received since the last clear (the aiosmtpd sink stops to tell)."""
        if self.kind == "smtp-sink":
            counted: Counter[str] = Counter()
            for dump in self.dumps.iterdir():
                with dump.open("rb") as fh:
                    head = fh.read(HEADER_BYTES).decode(errors="replace")
                for line in head.splitlines():
                    if line.startswith("X-Rcpt-Args:"):
                        counted[line.split(":", 1)[1].strip().strip("<>").lower()] += 1
            return counted
        self.stop()
        data = json.loads((self.folder / "sink-counts.json").read_text())
        self.start()
        return Counter(data)

    def clear(self) -> None:
        if self.kind == "smtp-sink":
            for dump in self.dumps.iterdir():
                dump.unlink()
        else:
            self.stop()
            self.start()

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.terminate()
            self.proxy.wait(30)
            self.proxy = None
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dumps, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class DelayedSink:
    """aiosmtpd handler: every command answered after ``delay`` seconds, each recipient counted."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received: Counter[str] = Counter()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: list[str]) -> str:
        await asyncio.sleep(self.delay)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: list[str]) -> str:
        await asyncio.sleep(self.delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(self.delay)
        for rcpt in envelope.rcpt_tos:
            self.received[rcpt.lower()] += 1
        return "250 OK"


async def _delay_proxy(port: int, upstream: int, delay: float) -> None:
    """Forward connections on ``port`` to ``upstream``, holding each chunk the server sends back by ``delay``."""

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wait: float) -> None:
        try:
            while chunk := await reader.read(65536):
                if wait:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(pump(client_reader, server_writer, 0), pump(server_reader, client_writer, delay))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Run the delay proxy, or the delayed aiosmtpd sink until SIGTERM and then write its counts."""
    from aiosmtpd.controller import Controller

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--counts")
    parser.add_argument("--upstream", type=int)
    args = parser.parse_args()
    if args.upstream:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        asyncio.run(_delay_proxy(args.port, args.upstream, args.latency_ms / 1000))
        return
    handler = DelayedSink(args.latency_ms / 1000)
    controller = Controller(handler, hostname="127.0.0.1", port=args.port)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()
    Path(args.counts).write_text(json.dumps(handler.received))


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
