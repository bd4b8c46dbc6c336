"""Commands: `flask --app app init-db`, `load-demo`, `deploy`, `verify-chains`, `backup`,
`restore`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .errors import AppError
from .migrate import upgrade_database


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema; seed the working-day calendar."""
    from .calendar.services import seed_from_package
    from .db import session
    from .privacy import development_keys

    upgrade_database(current_app.config["DATABASE_URL"])
    added = seed_from_package(session())
    session().commit()
    click.echo("database is at the newest schema")
    if added:
        click.echo(f"working-day calendar: added {added[0]}–{added[-1]} from chinese-calendar")
    unset = development_keys(current_app.config)
    if unset:  # said here once, not by every process that starts with them
        click.echo(f"WARNING: {', '.join(unset)} not set: development keys seal this database "
                   "(a demo; never for real data)", err=True)  # fmt: skip


@click.command("load-demo")
@with_appcontext
@click.option("--bpmn-dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def load_demo_command(bpmn_dir: Path | None) -> None:
    """Load (or refresh) the demo centre: departments, posts, users, items, diagrams."""
    from .demo import load_demo

    counts = load_demo(bpmn_dir or Path(current_app.config["BPMN_DIR"]))
    click.echo(", ".join(f"{n} {k}" for k, n in counts.items()) + " loaded")


@click.command("load-demo-history")
@with_appcontext
@click.option("--seed", type=int, default=None, help="another history (the default is fixed)")
@click.option("--weeks", type=click.IntRange(1, 52), default=None, help="how far back it goes")
def load_demo_history_command(seed: int | None, weeks: int | None) -> None:
    """Give the demo centre a past: some months of cases worked through the services (once:
    a centre that already has cases is left as it is)."""
    from .demo_history import SEED, WEEKS, load_history

    if not current_app.config.get("DEMO_HISTORY", True):
        click.echo("OW_DEMO_HISTORY=0: the demo centre starts without history")
        return
    loaded = load_history(current_app, SEED if seed is None else seed, weeks or WEEKS)
    if loaded.first_day is None:
        click.echo("the centre already has cases: no history loaded")
        return
    done = ", ".join(f"{n} {k}" for k, n in sorted(loaded.counts.items()))
    click.echo(f"history since {loaded.first_day}: {done} ({loaded.seconds:.0f} s)")


@click.command("deploy")
@with_appcontext
@click.argument("item_code")
@click.argument("diagram", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--comment", default="")
def deploy_command(item_code: str, diagram: Path, comment: str) -> None:
    """Deploy a diagram file as the newest version of an item."""
    from .catalogue.services import deploy_file

    try:
        version = deploy_file(item_code, diagram.read_bytes(), diagram.name, None, comment)
    except AppError as exc:
        for finding in exc.details.get("findings", []):
            click.echo(
                f"  {finding['severity']}: line {finding['line']}, "
                f"element {finding['element_id']}: {finding['message']}",
                err=True,
            )
        raise click.ClickException(exc.message) from None
    click.echo(f"{item_code}: version {version.version} deployed")


@click.command("verify-chains")
@with_appcontext
def verify_chains_command() -> None:
    """Check every case's chain: seals under the audit key, links, and the latest signed
    checkpoint (read afresh); print what was rewritten, removed, truncated or added."""
    from .audit.anchor import verify_all
    from .db import session

    result = verify_all(current_app, session())
    if result.log_error:
        _report([result.log_error], "the checkpoint log is broken: no case can be trusted "
                "beyond its audit key", failed=True)  # fmt: skip
    bad = result.broken + result.missing
    summary = (
        f"{result.cases} cases checked against {result.checkpoints} checkpoints, "
        f"{len(result.broken)} with a broken chain, {len(result.missing)} missing"
    )
    _report(bad, summary, failed=bool(bad))


def _report(lines: list[str], summary: str, failed: bool) -> None:
    """Print what was found and the summary; exit 1 when something failed."""
    for line in lines:
        click.echo(line)
    click.echo(summary)
    if failed:
        raise SystemExit(1)


@click.command("verify-cases")
@with_appcontext
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="received on or after (UTC)")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="received before (UTC)")
def verify_cases_command(since, until) -> None:
    """Verify the cases of a period: hash chain and re-execution; print a summary."""
    from .audit.review import verify_period
    from .db import session

    results = verify_period(session(), since, until)
    lines = []
    for case_no, result in results:
        if not result.chain.ok:
            lines.append(f"{case_no}: chain broken at event {result.chain.first_bad_seq}: "
                         f"{result.chain.problem}")  # fmt: skip
        if result.divergence is not None:
            lines.append(f"{case_no}: re-execution diverges at {result.divergence}")
        if result.error:
            lines.append(f"{case_no}: {result.error}")
    broken = sum(1 for _no, result in results if not result.ok)
    summary = f"{len(results)} cases verified: {len(results) - broken} intact, {broken} not"
    _report(lines, summary, failed=broken > 0)


@click.command("init-signing")
@with_appcontext
def init_signing_command() -> None:
    """Make the demo's certificate authority and a signing key and certificate for each
    deciding authority that has none (in SIGNING_DIR; nothing there is overwritten)."""
    import sqlalchemy as sa

    from .db import session
    from .org.models import Department
    from .signing.keys import create_demo_ca

    rows = session().execute(sa.select(Department.code, Department.name)
                             .where(Department.number_prefix.is_not(None))).all()  # fmt: skip
    directory = Path(current_app.config["SIGNING_DIR"])
    made = create_demo_ca(directory, {code: name for code, name in rows})
    click.echo(f"signing keys in {directory}: {len(made)} made, {len(rows) - len(made)} there")


@click.command("run-scheduler")
@with_appcontext
def run_scheduler_command() -> None:
    """Run only the timer scheduler (for a dedicated scheduler process)."""
    import signal

    from .scheduler import start_scheduler

    scheduler = start_scheduler(current_app._get_current_object())
    click.echo("timer scheduler running; Ctrl-C stops it")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown()


def init_app(app: Flask) -> None:
    """Register the commands."""
    from .audit.commands import checkpoint_command, public_key_command, verify_log_command
    from .backup import backup_command, restore_command
    from .privacy import reencrypt_command

    for command in (
        init_db,
        load_demo_command,
        load_demo_history_command,
        deploy_command,
        verify_chains_command,
        verify_cases_command,
        run_scheduler_command,
        init_signing_command,
        backup_command,
        restore_command,
        reencrypt_command,
        checkpoint_command,
        verify_log_command,
        public_key_command,
    ):
        app.cli.add_command(command)
