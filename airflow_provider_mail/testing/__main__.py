"""Run an emulator from the command line until SIGINT/SIGTERM.

Example::

    python -m airflow_provider_mail.testing sender25 --port 8025 --domain acme.example \\
        --ready-file /tmp/sender25.url

prints ``sender25 emulator listening on http://127.0.0.1:8025`` once it accepts connections and
writes the URL to ``--ready-file`` (so a Makefile or CI step can wait for the file). ``--webhook URL``
(repeatable) sends Postal's signed webhooks there and ``--webhook-key-file PATH`` writes the signing key's
public PEM (the JWKS is at ``/.well-known/jwks.json``). Both
subcommands take ``--latency S --latency-jitter S`` (round-trip latency) and ``--rate-limit RPS
--rate-limit-burst N`` (HTTP 429 with ``Retry-After`` beyond it). Likewise::

    python -m airflow_provider_mail.testing xmailer --smtp-port 2525 --http-port 8026

prints ``xmailer emulator: smtp on 127.0.0.1:2525, report on
http://127.0.0.1:8026/http/report.php`` and then the CA certificate's path; its ready file holds
the report server's base URL (``/_emulator/health`` there tells the rest).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._emulator import EmulatorBase


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per emulated service."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_mail.testing",
        description="Run a service emulator in the foreground.",
    )
    services = parser.add_subparsers(dest="service", required=True, metavar="SERVICE")
    sender25 = services.add_parser("sender25", help="Sender25 (Postal legacy HTTP API) emulator")
    sender25.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    sender25.add_argument(
        "--port", type=int, default=8025, help="TCP port, 0 = any free port (default: %(default)s)"
    )
    sender25.add_argument(
        "--api-key", default="test-api-key", help="the server's API key (default: %(default)s)"
    )
    sender25.add_argument(
        "--flavour",
        default="rails",
        choices=("rails", "rails-3.3.1", "moonrope"),
        help="Postal flavour to emulate",
    )
    sender25.add_argument(
        "--domain",
        action="append",
        dest="domains",
        metavar="DOMAIN",
        help="verified From domain; repeat for more (default: example.com)",
    )
    sender25.add_argument("--use-for-any", action="store_true", help="accept any From domain")
    sender25.add_argument("--allow-sender", action="store_true", help="let the Sender address authorise")
    sender25.add_argument(
        "--delivery-delay", type=float, default=0.5, metavar="S", help="seconds to first attempt"
    )
    sender25.add_argument(
        "--retry-interval", type=float, default=0.5, metavar="S", help="seconds between attempts"
    )
    sender25.add_argument(
        "--bounce-delay", type=float, default=1.0, metavar="S", help="seconds from Sent to Bounced"
    )
    sender25.add_argument(
        "--ready-file", type=Path, metavar="PATH", help="write the base URL here once listening"
    )
    sender25.add_argument(
        "--webhook",
        action="append",
        dest="webhooks",
        metavar="URL",
        help="send Postal's signed webhooks (all events) to URL; repeat for more",
    )
    sender25.add_argument(
        "--webhook-key-file",
        type=Path,
        metavar="PATH",
        help="write the webhook signing key's public half (PEM) here",
    )
    _add_network_arguments(sender25)
    _add_xmailer_parser(services)
    return parser


def _add_xmailer_parser(services: Any) -> None:
    xmailer = services.add_parser("xmailer", help="xmailer (SMTP relay + delivery report) emulator")
    xmailer.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    xmailer.add_argument(
        "--smtp-port", type=int, default=2525, help="SMTP port, 0 = any free port (default: %(default)s)"
    )
    xmailer.add_argument(
        "--http-port", type=int, default=8026, help="report port, 0 = any free port (default: %(default)s)"
    )
    xmailer.add_argument("--username", default="relay@example.com", help="SMTP/report user")
    xmailer.add_argument("--password", default="smtp-secret", help="SMTP/report password")
    xmailer.add_argument("--token", default="report-token", help="the report's token_auth")
    xmailer.add_argument("--smtp-tls", default="starttls", choices=("starttls", "implicit", "none"))
    xmailer.add_argument("--report-format", default="text", choices=("text", "json"))
    xmailer.add_argument("--report-encoding", default="utf-8", choices=("utf-8", "latin-1"))
    xmailer.add_argument("--queue-id-style", default="exim", choices=("exim", "exim497", "postfix", "none"))
    xmailer.add_argument(
        "--visibility-lag", type=float, default=0.5, metavar="S", help="seconds before a row shows"
    )
    xmailer.add_argument(
        "--delivery-delay", type=float, default=1.0, metavar="S", help="seconds from receipt to delivery"
    )
    xmailer.add_argument(
        "--softfail-retry", type=float, default=2.0, metavar="S", help="seconds from 4xx to delivery"
    )
    xmailer.add_argument(
        "--ready-file", type=Path, metavar="PATH", help="write the report base URL here once listening"
    )
    _add_network_arguments(xmailer)


def _add_network_arguments(parser: argparse.ArgumentParser) -> None:
    network = parser.add_argument_group(
        "network conditions (HTTP endpoint; changeable via /_emulator/network)"
    )
    network.add_argument(
        "--latency", type=float, default=0.0, metavar="S", help="seconds added to every answer"
    )
    network.add_argument(
        "--latency-jitter", type=float, default=0.0, metavar="S", help="uniform spread (±) around --latency"
    )
    network.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="RPS",
        help="requests per second before HTTP 429 with Retry-After (default: no limit)",
    )
    network.add_argument("--rate-limit-burst", type=int, default=None, metavar="N", help="token bucket size")


def _network_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "latency": args.latency,
        "latency_jitter": args.latency_jitter,
        "rate_limit": args.rate_limit,
        "rate_limit_burst": args.rate_limit_burst,
    }


def run_sender25(args: argparse.Namespace, stop: threading.Event) -> int:
    """Serve a Sender25 emulator until ``stop`` is set.

    :param args: the parsed ``sender25`` arguments.
    :param stop: set by the signal handlers.
    """
    from .sender25 import Sender25Emulator

    emulator = Sender25Emulator(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        flavour=args.flavour,
        verified_domains=tuple(args.domains or ("example.com",)),
        use_for_any=args.use_for_any,
        allow_sender=args.allow_sender,
        delivery_delay=args.delivery_delay,
        retry_interval=args.retry_interval,
        bounce_delay=args.bounce_delay,
        webhook_urls=tuple(args.webhooks or ()),
        **_network_settings(args),
    )
    if args.webhook_key_file is not None:
        _write_atomically(args.webhook_key_file, emulator.webhook_signer.public_pem)
    return _serve(
        emulator, args.ready_file, stop, lambda: [f"sender25 emulator listening on {emulator.base_url}"]
    )


def run_xmailer(args: argparse.Namespace, stop: threading.Event) -> int:
    """Serve an xmailer emulator until ``stop`` is set.

    :param args: the parsed ``xmailer`` arguments.
    :param stop: set by the signal handlers.
    """
    from .xmailer import XmailerEmulator

    emulator = XmailerEmulator(
        host=args.host,
        smtp_port=args.smtp_port,
        http_port=args.http_port,
        username=args.username,
        password=args.password,
        token=args.token,
        smtp_tls=args.smtp_tls,
        report_format=args.report_format,
        report_encoding=args.report_encoding,
        queue_id_style=args.queue_id_style,
        visibility_lag=args.visibility_lag,
        delivery_delay=args.delivery_delay,
        softfail_retry=args.softfail_retry,
        **_network_settings(args),
    )
    return _serve(
        emulator,
        args.ready_file,
        stop,
        lambda: [
            f"xmailer emulator: smtp on {emulator.smtp_host}:{emulator.smtp_port}, "
            f"report on {emulator.report_url}",
            f"xmailer emulator: TLS CA certificate {emulator.ca_cert_path}",
        ],
    )


def _serve(
    emulator: EmulatorBase, ready_file: Path | None, stop: threading.Event, banner: Callable[[], list[str]]
) -> int:
    """Start, announce (banner lines, then the ready file), wait for ``stop``, stop; exit code 0.

    :param emulator: the emulator to run.
    :param ready_file: where to write the base URL once listening, if anywhere.
    :param stop: set by the signal handlers.
    :param banner: the lines to print once started (ports are known only then).
    """
    emulator.start()
    try:
        for line in banner():
            print(line, flush=True)
        if ready_file is not None:
            _write_atomically(ready_file, emulator.base_url + "\n")
        stop.wait()
    finally:
        emulator.stop()
    return 0


def _write_atomically(path: Path, text: str) -> None:
    # A watcher polling for the file must never read it half-written.
    handle, temporary = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m airflow_provider_mail.testing``.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    runners = {"sender25": run_sender25, "xmailer": run_xmailer}
    return runners[args.service](args, stop)


if __name__ == "__main__":
    sys.exit(main())
