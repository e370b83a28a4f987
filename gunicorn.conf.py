"""gunicorn's settings for Kairan's web process, as `make up` runs it and as a deployment should.

gunicorn reads ./gunicorn.conf.py when started in this folder; from elsewhere, pass
``-c /path/to/kairan/gunicorn.conf.py``. Options on the command line override these.
"""

from __future__ import annotations

import sys

from gunicorn.arbiter import Arbiter

from core.deployment import require_shared_secret
from core.settings import SettingsError, load_settings

wsgi_app = "app:create_app()"
worker_class = "gthread"
# With --access-logfile (`make up` writes <data dir>/access.log; `-` is standard output): each request without
# the client's address and user agent, since readers' pixel and link requests pass through here and the log
# must not keep what KAIRAN_TRACK_IP keeps out of the events.
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'  # gunicorn's atoms: time, request line, status, size, ms


def on_starting(server: Arbiter) -> None:
    """Refuse to serve with settings the deployment's other processes would not share (core/deployment.py)."""
    try:
        require_shared_secret(load_settings())
    except SettingsError as error:
        server.log.error("Error: %s", error.message)
        sys.exit(1)
