"""``riskaudit diff OLD NEW``: what changed between two audits (new, resolved, worse and better
findings; the change of each headline figure). Exit 0, or 2 for a file that is not a report."""

from __future__ import annotations

import json

import click

from riskaudit.errors import InputError, RiskauditError

__all__ = ["command"]


@click.command("diff", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("old", type=click.Path())
@click.argument("new", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Plain text for people, JSON for programs.")
@click.pass_context
def command(ctx, old, new, fmt):
    """Compare two report.json files (or report folders): OLD, the earlier audit, and NEW."""
    from riskaudit.approvals import load_report
    from riskaudit.reports.changes import compare, render_text
    from riskaudit.result import verify_digest

    try:
        before, after = load_report(old, "OLD"), load_report(new, "NEW")
        try:
            changes = compare(before, after, source=f"OLD {click.format_filename(old)}")
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            raise InputError(f"OLD or NEW is not a well-formed riskaudit report.json ({type(exc).__name__}: "
                             f"{exc})") from None
    except RiskauditError as exc:
        click.echo(f"riskaudit: error: {exc}", err=True)
        ctx.exit(2)
    notes = [f"note: the digest of {name} does not verify: it was changed after its scan"
             for name, body in (("OLD", before), ("NEW", after)) if not verify_digest(body)]
    for note in notes:
        click.echo(note, err=True)
    if fmt == "json":
        click.echo(json.dumps(changes, indent=2, ensure_ascii=False, sort_keys=True))
    else:
        click.echo(render_text(changes), nl=False)
    ctx.exit(0)
