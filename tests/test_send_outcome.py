"""The send-outcome interface: every provider error says what went out; anything else is unknown."""

from __future__ import annotations

import pytest

from airflow_provider_mail._transport.failures import AttemptFailed, FailureKind
from airflow_provider_mail._transport.retry import Attempts, RetryPolicy, SendIdentity
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailConfigurationError,
    MailProviderError,
    MailValidationError,
    Sender25ApiError,
    Sender25ConfigurationError,
    Sender25PayloadTooLarge,
    Sender25TransportError,
    Sender25ValidationError,
    SendLedgerUnavailable,
    SendOutcome,
    WentOut,
    XmailerRecipientsRefused,
    XmailerSmtpAuthError,
    XmailerSmtpError,
    XmailerTransportError,
    send_outcome_of,
)


@pytest.mark.parametrize(
    ("error", "went_out"),
    [
        (MailConfigurationError("bad extra"), WentOut.NOTHING),
        (Sender25ConfigurationError("404 at the base path", http_status=404), WentOut.NOTHING),
        (MailValidationError("bad address", code="InvalidAddress"), WentOut.NOTHING),
        (Sender25ValidationError("no rcpt", code="NoRecipients"), WentOut.NOTHING),
        (Sender25ApiError("boom", code="SomethingNew"), WentOut.NOTHING),
        (Sender25PayloadTooLarge("too big"), WentOut.NOTHING),
        (SendLedgerUnavailable("down", record="r"), WentOut.NOTHING),
        (XmailerSmtpAuthError("535", smtp_code=535), WentOut.NOTHING),
        (AmbiguousSendError("maybe", service="xmailer"), WentOut.UNKNOWN),
        # raised without saying what went out: never taken to mean "nothing"
        (XmailerSmtpError("421 bye", smtp_code=421), WentOut.UNKNOWN),
        (Sender25TransportError("reset"), WentOut.UNKNOWN),
        (XmailerTransportError("reset"), WentOut.UNKNOWN),
        (MailProviderError("anything"), WentOut.UNKNOWN),
    ],
)
def test_each_error_class_has_its_default(error, went_out):
    assert send_outcome_of(error).went_out is went_out


@pytest.mark.parametrize("error", [TimeoutError("read"), KeyboardInterrupt(), ValueError("bug")])
def test_a_foreign_exception_is_unknown_never_nothing(error):
    assert send_outcome_of(error) == SendOutcome(WentOut.UNKNOWN)


def test_the_raiser_sets_what_it_knows():
    outcome = SendOutcome(WentOut.NOTHING, message_id="<m@x>")
    error = XmailerSmtpError("MAIL refused", smtp_code=550, send_outcome=outcome)
    assert send_outcome_of(error) is outcome
    assert send_outcome_of(Sender25TransportError("x").with_outcome(outcome)) is outcome
    # the class default is untouched by an instance's outcome
    assert send_outcome_of(XmailerSmtpError("other")).went_out is WentOut.UNKNOWN


def test_refused_recipients_say_some_with_the_queue_id_or_nothing():
    some = XmailerRecipientsRefused(
        "refused",
        refused={"b@example.org": "550 5.1.1 unknown user"},
        accepted=["a@example.org"],
        queue_id="1grzDQ-000866-0o",
        message_id="<m@x>",
    )
    assert send_outcome_of(some) == SendOutcome(
        WentOut.SOME,
        accepted=("a@example.org",),
        refused={"b@example.org": (550, "5.1.1 unknown user")},
        queue_id="1grzDQ-000866-0o",
        message_id="<m@x>",
    )
    none = XmailerRecipientsRefused("refused", refused={"b@example.org": "550 no"})
    assert send_outcome_of(none).went_out is WentOut.NOTHING


def test_the_outcome_is_immutable():
    outcome = SendOutcome(WentOut.SOME, accepted=["a@x"], refused={"b@x": (550, "no")})  # type: ignore[arg-type]
    assert outcome.accepted == ("a@x",)
    with pytest.raises(TypeError):
        outcome.refused["c@x"] = (550, "no")  # type: ignore[index]


@pytest.mark.parametrize(
    ("kind", "went_out"),
    [(FailureKind.NEVER_SENT, WentOut.NOTHING), (FailureKind.CONFIGURATION, WentOut.NOTHING)],
)
def test_the_retry_policy_gives_a_final_failure_its_outcome(kind, went_out):
    attempts = Attempts(RetryPolicy(max_retries=0), "send")
    failed = AttemptFailed(kind, XmailerTransportError("refused connection"))
    with pytest.raises(XmailerTransportError) as info:
        attempts.wait_after(failed)
    assert send_outcome_of(info.value).went_out is went_out


def test_a_maybe_sent_send_is_ambiguous_and_unknown():
    send = SendIdentity("sender25", "/api/v1/send/message", ["a@x"], "the panel")
    attempts = Attempts(RetryPolicy(max_retries=3), "send", send=send)
    with pytest.raises(AmbiguousSendError) as info:
        attempts.wait_after(AttemptFailed(FailureKind.MAYBE_SENT, Sender25TransportError("reset")))
    assert send_outcome_of(info.value).went_out is WentOut.UNKNOWN
