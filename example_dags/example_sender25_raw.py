"""A message built with ``email.message.EmailMessage`` (HTML with an inline image) sent raw."""

from __future__ import annotations

import base64
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag
except ImportError:
    from airflow.decorators import dag

from airflow_provider_mail.operators.sender25 import Sender25SendRawOperator

# A 1x1 PNG, so the example needs no file on disk.
LOGO_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def build_newsletter() -> EmailMessage:
    """Compose a multipart/related message whose HTML shows an inline logo by Content-ID."""
    message = EmailMessage()
    message["From"] = "Acme <news@example.com>"
    message["To"] = "Ana Souza <ana@example.org>"
    message["Subject"] = "Novidades de novembro"
    logo_cid = make_msgid(domain="example.com")
    message.set_content("Novidades de novembro: veja a versão HTML.")
    message.add_alternative(
        f'<p><img src="cid:{logo_cid[1:-1]}" alt="Acme"></p><p>Novidades de novembro.</p>', subtype="html"
    )
    message.get_payload()[1].add_related(LOGO_PNG, "image", "png", cid=logo_cid, filename="logo.png")
    return message


@dag(
    dag_id="example_sender25_raw",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "sender25"],
)
def example_sender25_raw():
    # [START howto_operator_sender25_send_raw]
    Sender25SendRawOperator(
        task_id="send_newsletter",
        mail_from="news@example.com",
        rcpt_to=["ana@example.org"],
        message=build_newsletter(),
    )
    # [END howto_operator_sender25_send_raw]


example_sender25_raw()
