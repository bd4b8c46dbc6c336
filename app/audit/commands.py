"""Command-line tools of the audit trail: checkpoints, the log's own check, the public key."""

from __future__ import annotations

import base64
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from flask import current_app
from flask.cli import with_appcontext

from ..db import session
from . import anchor
from .keys import keyring


@click.command("audit-checkpoint")
@with_appcontext
@click.option("--force", is_flag=True, help="write a line even if no chain changed")
@click.option(
    "--rebase",
    metavar="REASON",
    help="record chains that do not extend the recorded ones (after a restore)",
)
def checkpoint_command(force: bool, rebase: str | None) -> None:
    """Append a signed checkpoint of every changed case to the checkpoint log."""
    if rebase is not None and not rebase.strip():
        raise click.BadParameter("give the reason for the rebase", param_hint="--rebase")
    try:
        written = anchor.write_checkpoint(current_app, session(), force=force, rebase=rebase)
    except anchor.LogBroken as exc:
        raise click.ClickException(str(exc)) from None
    if written is None:
        click.echo("no chain changed since the last checkpoint; nothing written")
        return
    click.echo(
        f"checkpoint {written.line} written at {written.at}: {written.cases} cases recorded, "
        f"{written.total_cases} cases and {written.total_events} events in all"
    )
    for case_no in written.held:
        click.echo(f"held back: {case_no}: its chain does not extend the recorded one")
    for case_no in written.missing:
        click.echo(f"missing: {case_no}: recorded before, no longer in the database")
    if written.held or written.missing:
        raise SystemExit(1)


@click.command("audit-verify-log")
@with_appcontext
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the log to check (default: this installation's)",
)
@click.option(
    "--kept",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="an earlier copy an auditor kept: the log must start with all of it",
)
def verify_log_command(log_file: Path | None, kept: Path | None) -> None:
    """Check the checkpoint log's signatures and chain (and against a kept copy)."""
    path = log_file or anchor.log_path(current_app)
    if path is None:
        raise click.ClickException("no checkpoint log is configured (OW_CHECKPOINT_LOG)")
    try:
        cp = anchor.read_log(path, keyring())
        if kept is not None:
            anchor.check_prefix(kept, path, keyring())
    except anchor.LogBroken as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: {cp.lines} checkpoints intact, {len(cp.state)} cases recorded")
    if kept is not None:
        click.echo(f"the log starts with every line of {kept}")


@click.command("audit-public-key")
@with_appcontext
@click.option(
    "--raw",
    is_flag=True,
    help="base64 of the 32 raw bytes, the form OW_CHECKPOINT_TRUSTED_KEYS takes",
)
def public_key_command(raw: bool) -> None:
    """Print the checkpoint signing public key(s), PEM (or raw), for an auditor to keep."""
    keys = keyring()
    if not raw:
        click.echo(keys.public_pem().decode("ascii"), nl=False)
        return
    for kid, public in keys.trusted.items():
        data = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        click.echo(f"{kid} {base64.b64encode(data).decode('ascii')}")
