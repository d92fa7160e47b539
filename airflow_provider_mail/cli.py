"""``airflow mail-ledger``: the provider's CLI commands (Airflow 3.2+ reads ``cli`` of the provider info).

``airflow mail-ledger purge LOCATION`` deletes the expired records of a send ledger kept in Variables
(``variable``) or in object storage (a URL). Imported by every ``airflow`` command, so it imports
nothing until a command runs.
"""

from __future__ import annotations

from typing import Any


def get_cli_commands() -> list[Any]:
    """The command group Airflow adds to its CLI."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    location = Arg(
        ("location",),
        help="'variable' (the Variables ledger) or the object-storage URL given as ledger= / "
        "[mail_provider] send_ledger",
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

    purged = purge_expired(args.location)
    for name in purged:
        print(name)
    print(f"purged {len(purged)} expired send-ledger record(s) from {args.location}")
