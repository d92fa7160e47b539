"""Each process of the Celery stack names its own "machine" (``[core] hostname_callable``).

All processes run on one host; ``RS_HOSTNAME`` (``worker-a``, ``triggerer-1``...) makes the task
instance's ``hostname`` and the ``job`` table tell them apart, as separate machines would.
"""

from __future__ import annotations

import os
import socket


def rs_hostname() -> str:
    """The process's machine name: ``$RS_HOSTNAME``, else the host's name."""
    return os.environ.get("RS_HOSTNAME") or socket.getfqdn()
