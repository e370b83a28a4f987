"""A real IMAP and POP3 server for tests: Debian's dovecot, run by the test with its own config, ports and certificate.

Nothing is installed system-wide and no service is started: dovecot runs in the foreground from a
temporary folder, as whoever runs the tests, with one user whose mail is a Maildir there. TLS uses
a self-signed certificate for 127.0.0.1 made here; clients trust it through SSL_CERT_FILE.
"""

from __future__ import annotations

import datetime
import grp
import ipaddress
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.embedded import port_answers
from tests.resources import free_port

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None)
SKIP_REASON = "Debian's dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d; .ci/run does)"
USER, PASSWORD = "bounces", "mailbox secret"


@dataclass(frozen=True)
class Dovecot:
    """A running dovecot: its ports, the CA file that trusts it, and the user's Maildir."""

    ports: dict[str, int]  # imap, imaps, pop3, pop3s
    ca_file: Path
    maildir: Path

    def url(self, scheme: str, password: str = PASSWORD) -> str:
        port = self.ports[scheme.replace("+starttls", "")]
        return f"{scheme}://{USER}:{password.replace(' ', '%20')}@127.0.0.1:{port}" + (
            "/INBOX" if scheme.startswith("imap") else "")

    def deliver(self, *messages: bytes) -> None:
        """Put messages into the user's inbox, as the local delivery agent would."""
        for number, raw in enumerate(messages):
            name = f"{time.time_ns()}.{number}.kairan-test"
            (self.maildir / "tmp" / name).write_bytes(raw)
            (self.maildir / "tmp" / name).rename(self.maildir / "new" / name)

    def held(self) -> int:
        """How many messages the inbox holds now (delivered, or read but not yet removed)."""
        return sum(1 for folder in ("new", "cur") for _ in (self.maildir / folder).iterdir())


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


@contextmanager
def run_dovecot(folder: Path) -> Iterator[Dovecot]:
    """Run dovecot from folder until the block ends."""
    assert DOVECOT, SKIP_REASON
    cert_file, key_file = _certificate(folder)
    ports = {name: free_port() for name in ("imap", "imaps", "pop3", "pop3s")}
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    login_user, auth_user, mail_root = user, "$default_internal_user", folder / "mail"
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        # Dovecot runs neither login nor mail processes as root: under root (CI), the package's own
        # unprivileged users, and the mail in a folder they can reach (pytest's tmp folders are 0700).
        login_user, user, group, auth_user = "dovenull", "dovecot", "dovecot", "root"
        uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
        mail_root = Path(tempfile.mkdtemp(prefix="kairan-dovecot-"))
    (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    maildir = mail_root / USER
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for path in (mail_root, maildir, *maildir.iterdir()):
        os.chown(path, uid, gid)
    config = folder / "dovecot.conf"
    config.write_text(f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert_file}
ssl_key = <{key_file}
auth_mechanisms = plain
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{mail_root}/%u:INBOX={mail_root}/%u
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail_root}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {ports['imap']}
  }}
  inet_listener imaps {{
    port = {ports['imaps']}
    ssl = yes
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    port = {ports['pop3']}
  }}
  inet_listener pop3s {{
    port = {ports['pop3s']}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {auth_user}
}}
service auth-worker {{
  user = {auth_user}
}}
""")
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not all(port_answers(port) for port in ports.values()):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "dovecot.log").read_text() if (folder / "dovecot.log").exists() else ""
                output = process.stdout.read().decode() if process.stdout and process.poll() is not None else ""
                raise RuntimeError(f"dovecot did not start: {output}{log}")
            time.sleep(0.1)
        yield Dovecot(ports, cert_file, maildir)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if mail_root != folder / "mail":
            shutil.rmtree(mail_root, ignore_errors=True)
