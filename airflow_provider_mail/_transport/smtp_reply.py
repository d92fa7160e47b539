"""What an SMTP reply means for the message: the one classification of every SMTP answer.

Pure: no I/O. A reply is read by the phase of the dialogue it came in and by its class (RFC 5321
§4.2.1), and the driver, the single send and the bulk send all ask here:

* Before the end of DATA nothing is queued, whatever happens (a refusal, a ``421``, a hang-up).
* ``421`` (any phase) is the server closing the channel: Exim says it at MAIL when a connection
  carried ``smtp_accept_max_per_connection`` messages ("too many messages in this connection") and
  then keeps the socket open, or with a hang-up from an ACL ``drop`` at RCPT. The transaction is
  abandoned and tried again on a new connection.
* Other ``4xx`` replies are transient (a full queue, greylisting, a ``defer`` ACL): nothing was taken,
  trying again later is right.
* ``5xx`` replies are permanent for what they refused.
* After the message's final dot only the end-of-DATA reply says whether it was queued: ``250`` queued,
  ``4xx``/``5xx`` not queued, no reply (a hang-up, a timeout) unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from airflow_provider_mail.exceptions import WentOut


class SmtpPhase(str, Enum):
    """Where in the dialogue a reply (or a hang-up) came."""

    CONNECT = "connect"
    EHLO = "EHLO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    #: the ``DATA`` command itself, answered ``354`` before any content is sent
    DATA = "DATA"
    #: the reply to the message's final dot: the only one that can mean "queued"
    END_OF_DATA = "end of DATA"


class ReplyClass(str, Enum):
    """What one reply says."""

    #: 2xx (and ``354`` to DATA): go on
    POSITIVE = "positive"
    #: ``421``: the server is closing the channel; start again on a new connection
    CLOSING = "closing"
    #: other 4xx: not now; nothing was taken, try again later
    TRANSIENT = "transient"
    #: 5xx (or anything unreadable): refused for good
    PERMANENT = "permanent"


def classify_reply(code: int | None) -> ReplyClass:
    """The class of a reply code.

    :param code: the three-digit reply code (``None`` or ``-1`` when the reply could not be read).
    """
    if code is None or code < 200:
        return ReplyClass.PERMANENT
    if code < 400:
        return ReplyClass.POSITIVE
    if code == 421:
        return ReplyClass.CLOSING
    if code < 500:
        return ReplyClass.TRANSIENT
    return ReplyClass.PERMANENT


def went_out_after(phase: SmtpPhase, reply: ReplyClass | None) -> WentOut:
    """What went out when a transaction stops in ``phase`` with ``reply`` (``None``: no reply at all).

    :param phase: where the dialogue stopped.
    :param reply: the class of the last reply, or ``None`` after a hang-up or a timeout.
    """
    if phase is not SmtpPhase.END_OF_DATA:
        return WentOut.NOTHING
    # a refusal of the message is the relay's word that it kept nothing; silence proves nothing (and a
    # positive reply is no failure: the message is queued)
    return WentOut.NOTHING if reply in (ReplyClass.TRANSIENT, ReplyClass.PERMANENT) else WentOut.UNKNOWN


def parse_reply(reply: str) -> tuple[int, str]:
    """``"550 5.1.1 unknown user"`` -> ``(550, "5.1.1 unknown user")``; code 0 when there is none.

    :param reply: a reply as kept in results (``"code text"``).
    """
    code, _, text = reply.partition(" ")
    return (int(code), text) if code.isdigit() and len(code) == 3 else (0, reply)


@dataclass(frozen=True)
class RecipientsVerdict:
    """What the RCPT replies of one transaction decide.

    :param send_data: at least one recipient was accepted: go on with DATA.
    :param retry_later: nobody was accepted and some refusal was transient: nothing went out, and
        trying again later may reach them.
    """

    send_data: bool
    retry_later: bool


def recipients_verdict(accepted: int, refused: Mapping[str, str]) -> RecipientsVerdict:
    """Decide a transaction from its RCPT replies (``421`` never gets here: it ends the transaction).

    :param accepted: how many recipients the relay took.
    :param refused: recipient -> ``"code text"`` of each refusal.
    """
    if accepted:
        return RecipientsVerdict(send_data=True, retry_later=False)
    transient = any(
        classify_reply(parse_reply(reply)[0]) is ReplyClass.TRANSIENT for reply in refused.values()
    )
    return RecipientsVerdict(send_data=False, retry_later=transient)
