"""Apache Airflow provider for the Sender25 and xmailer transactional e-mail services."""

from __future__ import annotations

__version__ = "0.1.0"
