"""A real DNS server on loopback (UDP) for the DNS checks: it answers from records a test publishes."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DNSServer:
    """Answers queries for the records in ``published`` ((name, type) -> values); anything else is NXDOMAIN."""

    def __init__(self) -> None:
        self.published: dict[tuple[str, str], list[str]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)  # so the thread sees close() soon
        self.stopped = threading.Event()
        self.address: tuple[str, int] = self.sock.getsockname()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def publish(self, kind: str, name: str, value: str) -> None:
        """Publish a record as a DNS provider would: a TXT value in quoted strings of at most 255 characters."""
        if kind == "TXT":
            value = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
        self.published.setdefault((name.lower(), kind), []).append(value)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                data, client = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            kind = dns.rdatatype.to_text(question.rdtype)
            values = self.published.get((question.name.to_text().rstrip(".").lower(), kind))
            if values:
                response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", kind, values))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), client)

    def close(self) -> None:
        """Stop answering."""
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()
