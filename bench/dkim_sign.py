"""Benchmark: DKIM signing of one 64 KB message, RSA-2048 alone and with the Ed25519 second signature.

Builds a message the way the send path does (mailer/mime.py, the headers of the sending rules)
from ../shared/testdata/newsletter/weekly.html, then times DKIMSigner.sign with keys parsed once.
Prints one JSON line, last: rsa_us and rsa_ed25519_us (per message, best round) and what Ed25519 adds.
Run: .venv/bin/python -m bench.dkim_sign
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from bench.compile import NEWSLETTER
from mailer.mime import build, mailbox
from mailer.signing import DKIMSigner, new_key_pem

ROUNDS, MESSAGES = 10, 200  # the signers take turns; the best round of each counts (the machine is shared)
TARGET_KB = 64


def main() -> None:
    """Time both signers on the same message and print the figures."""
    html = NEWSLETTER.read_text(encoding="utf-8") if NEWSLETTER.exists() else "<p>本文</p>"
    # base64 grows the HTML by a third: this much makes a message of about TARGET_KB.
    html = (html * 4).encode()[:TARGET_KB * 1024 * 3 // 4].decode(errors="ignore")
    message = build(from_=mailbox("回覧商事", "news@kairan.example"), to=mailbox("山田 太郎", "taro@example.jp"),
                    subject="11月のお知らせ", text="山田様\n本文です。\n", html=html, message_id="<1.2@kairan.example>",
                    date=datetime.now(UTC), extra=[(b"List-Unsubscribe", b"<https://kairan.example/u/t>"),
                                                   (b"List-Unsubscribe-Post", b"List-Unsubscribe=One-Click"),
                                                   (b"List-Id", b"<news.kairan.example>"),
                                                   (b"Feedback-ID", b"1:2:kairan:news")])
    rsa_key, ed25519_key = new_key_pem("rsa"), new_key_pem("ed25519")
    signers = {"rsa_us": DKIMSigner("kairan.example", "kairan1", rsa_key),
               "rsa_ed25519_us": DKIMSigner("kairan.example", "kairan1", rsa_key, ("kairan-ed1", ed25519_key))}
    rounds: dict[str, list[float]] = {name: [] for name in signers}
    for _ in range(ROUNDS):
        for name, signer in signers.items():
            started = time.perf_counter()
            for _ in range(MESSAGES):
                signer.sign(message.headers, message.body)
            rounds[name].append((time.perf_counter() - started) / MESSAGES * 1e6)
    figures = {name: round(min(times), 1) for name, times in rounds.items()}
    print(json.dumps({"benchmark": "dkim_sign", "message_kb": round(len(message.as_bytes()) / 1024, 1),
                      "messages": ROUNDS * MESSAGES, **figures,
                      "ed25519_adds_us": round(figures["rsa_ed25519_us"] - figures["rsa_us"], 1)}))


if __name__ == "__main__":
    main()
