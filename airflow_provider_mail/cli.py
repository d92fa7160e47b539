"""``airflow mail-ledger``: the provider's CLI commands (read from the provider info's ``cli`` by Airflow 3;
tested on 3.3.2; Airflow 2.11 has no such key).

``airflow mail-ledger purge URL`` deletes the expired records of a send ledger kept in object storage.
A Variables ledger (``variable``) is purged from a task instead: on Airflow 3 Variables are read through
the Task SDK, which only a running task has. Imported by every ``airflow`` command, so it imports
nothing until a command runs.
"""

from __future__ import annotations

from typing import Any


def get_cli_commands() -> list[Any]:
    """The command group Airflow adds to its CLI."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    location = Arg(
        ("location",),
        help="the object-storage URL given as ledger= or [mail_provider] send_ledger",
    )
    purge = ActionCommand(
        name="purge",
        help="Delete the send-ledger records past [mail_provider] send_ledger_retention_days",
        func=lazy_load_command("airflow_provider_mail.cli.purge_command"),
        args=(location,),
    )
    return [
        GroupCommand(name="mail-ledger", help="The send ledger of airflow-provider-mail", subcommands=[purge])
    ]


def purge_command(args: Any) -> None:
    """Run ``airflow mail-ledger purge``: print each purged record's name, then the count.

    :param args: the parsed arguments (``location``).
    """
    from airflow_provider_mail.ledger import purge_expired

    if args.location.strip().lower() == "variable":
        raise SystemExit(
            "A Variables ledger is purged from a task: call "
            'airflow_provider_mail.ledger.purge_expired("variable") in a @task (on Airflow 3 only a running '
            "task can read Variables through the Task SDK)"
        )
    purged = purge_expired(args.location)
    for name in purged:
        print(name)
    print(f"purged {len(purged)} expired send-ledger record(s) from {args.location}")
