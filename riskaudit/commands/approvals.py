"""``riskaudit approve | gate | keygen | ledger verify | history``.

Each object here is a complete click command: ``riskaudit.cli`` maps the names onto them,
and each also runs on its own (``gate()``), with the same exit codes: 0 ok / gate open,
1 gate closed or ledger damaged (every reason on its own line), 2 bad input (one message on
stderr, no traceback).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from riskaudit.errors import RiskauditError
from riskaudit.inert import shell_command, terminal

EXIT_OK, EXIT_CLOSED, EXIT_USAGE = 0, 1, 2

LEDGER_OPTION = click.option(
    "--ledger", "ledger_path", type=click.Path(dir_okay=False),
    help="Ledger database (default: $RISKAUDIT_LEDGER or ~/.riskaudit/ledger.sqlite3).")


class InputProblem(click.ClickException):
    """Bad input: exit 2 with one message, whether run standalone or through riskaudit.cli."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:
        click.echo(f"riskaudit: error: {terminal(self.format_message())}", err=True)


def _guard(fn):
    """Turn riskaudit's errors (and unexpected ones) into one message and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except RiskauditError as exc:
            raise InputProblem(str(exc)) from None
        except OSError as exc:
            raise InputProblem(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None
        except Exception as exc:  # never a traceback for the user
            raise InputProblem(f"unexpected error: {type(exc).__name__}: {exc} (please report it)") from None

    return wrapper


CONTEXT = {"help_option_names": ["-h", "--help"]}


TRUST_OPTION = click.option(
    "--trust", "trust_path", type=click.Path(dir_okay=False),
    help="Trust policy (YAML, kept by the deploying side): trusted scanner and approver keys, required approvals.")


def echo(text: str = "", err: bool = False) -> None:
    """Print one line with every escape sequence and control character removed (the values
    come from reports and approval files that others write)."""
    click.echo(terminal(text), err=err)


@click.command("approve", context_settings=CONTEXT)
@click.argument("report", type=click.Path())
@click.option("--role", required=True, help="The role you sign as (one the report or the trust policy requires).")
@click.option("--approver", required=True, help="Your name (a label: the gate identifies you by your key).")
@click.option("--reject", is_flag=True, help="Record a rejection instead of an approval.")
@click.option("--comment", default="", help="Why (kept in the record).")
@click.option("--key", "key_path", type=click.Path(dir_okay=False),
              help="Your Ed25519 private key (from `riskaudit keygen`); only signed records count at the gate.")
@TRUST_OPTION
@LEDGER_OPTION
@_guard
def approve(report, role, approver, reject, comment, key_path, trust_path, ledger_path):
    """Record an approval (or, with --reject, a rejection) of REPORT's signed scan attestation.

    Writes a JSON file into approvals/ next to the report (commit it with the report) and a
    row into the audit ledger, then refreshes report.html's approval block when it is there.
    With --trust, refuses a report whose attestation no trusted scanner signed.
    """
    from riskaudit.approvals import approve as record, load_records, load_report, report_file
    from riskaudit.gate import approval_reasons, rerender_html, status_reasons
    from riskaudit.trust import load_trust_policy

    trust = load_trust_policy(trust_path) if trust_path else None
    rec, path = record(report, role=role, approver=approver, decision="reject" if reject else "approve",
                       comment=comment, key_path=key_path, ledger_path=ledger_path, trust=trust)
    signed = "signed" if rec.get("signature") else "UNSIGNED: it will not count at a gate with a trust policy"
    echo(f"Recorded {rec['decision']} by {rec['approver']!r} as {rec['role']!r} ({signed}) for report "
         f"{rec['report_digest']}: {path}")
    body = load_report(report_file(report))
    blocking, _ = approval_reasons(body, load_records(report, body["digest"])[0], trust,
                                   rec.get("attestation_sha256"))
    # Signatures never open the gate on a status it does not deploy (warn: the trust policy decides).
    if trust is not None:
        closed = status_reasons(body, trust)
    else:
        from riskaudit.result import CLOSED_BY_STATUS

        closed = [CLOSED_BY_STATUS[body["status"]]] if body.get("status") in CLOSED_BY_STATUS else []
    scope = "" if trust else " (by the report's own requirements; the gate applies the trust policy)"
    if blocking:
        echo("Approvals still needed: " + "; ".join(r.split(" (record one")[0] for r in blocking) + scope)
    else:
        echo("Approvals still needed: none, every required role has signed"
             + ("; but the gate stays closed whatever is signed" if closed else "") + scope)
    if closed:
        echo("The gate stays closed whatever is signed: " + "; ".join(closed))
    try:
        html = rerender_html(report)
    except Exception as exc:  # the record is written; a rendering problem must not hide that
        echo(f"riskaudit: note: report.html was not refreshed: {type(exc).__name__}: {exc}", err=True)
    else:
        if html is not None:
            echo(f"Updated the approval status in {html}")


@click.command("gate", context_settings=CONTEXT)
@click.argument("report", type=click.Path())
@TRUST_OPTION
@click.option("--model", "model_path", type=click.Path(), help="The model file to deploy: must hash to the audited one.")
@click.option("--data", "data_path", type=click.Path(), help="The data file or folder to deploy: must hash to an audited one.")
@click.option("--approvals", "approvals_folder", type=click.Path(file_okay=False),
              help="Folder of approval records (default: approvals/ next to the report).")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False),
              help="Audit ledger to consult (default: the trust policy's `ledger`, else $RISKAUDIT_LEDGER, else none).")
@click.option("--insecure-no-trust-policy", "insecure", is_flag=True,
              help="LOCAL EXPERIMENTS ONLY: judge by the report's own requirements; anyone who can edit "
                   "the report can open such a gate. Never in CI.")
@click.pass_context
@_guard
def gate(ctx, report, trust_path, model_path, data_path, approvals_folder, ledger_path, insecure):
    """Exit 0 only if REPORT may be deployed under TRUST_POLICY; otherwise exit 1 with every reason.

    TRUST_POLICY is a YAML file the deploying repository keeps: the scanner keys whose signed
    attestation (report.intoto.json) makes a report trusted, the approver keys allowed per role,
    and the approvals each risk tier needs, which nothing in the report can lower. Approvers
    count once per key, a rejection in the configured ledger keeps the gate closed, --model and
    --data must hash to what was audited, and without --trust the gate stays closed.
    """
    from riskaudit.gate import evaluate_gate

    if trust_path and insecure:
        raise InputProblem("--insecure-no-trust-policy: give either --trust or this flag, not both")
    result = evaluate_gate(report, trust_path, model_path=model_path, data_path=data_path,
                           approvals_folder=approvals_folder, ledger_path=ledger_path, insecure=insecure)
    if result.open:
        echo("Gate OPEN: the audit verifies and every required approval is in place.")
        for note in result.notes:
            echo(f"note: {note}")
        ctx.exit(EXIT_OK)
    echo(f"Gate CLOSED ({len(result.reasons)} reason{'s' if len(result.reasons) != 1 else ''}):")
    for reason in result.reasons:
        echo(f"- {reason}")
    ctx.exit(EXIT_CLOSED)


@click.command("keygen", context_settings=CONTEXT)
@click.option("--out", "out", default="riskaudit-approver.key", show_default=True, type=click.Path(dir_okay=False),
              help="Private key file; the public key goes to OUT.pub.")
@click.option("--force", is_flag=True, help="Overwrite an existing key pair.")
@_guard
def keygen(out, force):
    """Make an Ed25519 key pair: an approver's (riskaudit approve --key) or a CI scanner's (scan --scanner-key)."""
    from riskaudit.approvals import generate_keypair

    priv, pub, text = generate_keypair(out, overwrite=force)
    echo(f"Private key: {priv} (mode 0600, keep it secret; sign with: "
         f"{shell_command('riskaudit', 'approve', 'REPORT', '--key', str(priv))} ... "
         f"or {shell_command('riskaudit', 'scan', '--scanner-key', str(priv))} ...)")
    echo(f"Public key:  {pub}")
    echo("List it in the deploying side's trust policy, under `approvers: ROLE: NAME:` or `scanners: NAME:`:")
    click.echo(f'    NAME: "{text}"')


@click.group("ledger", context_settings=CONTEXT)
def ledger():
    """Inspect and verify the audit ledger."""


@ledger.command("verify")
@LEDGER_OPTION
@click.pass_context
@_guard
def ledger_verify(ctx, ledger_path):
    """Recompute the ledger's hash chain: exit 0 intact, 1 edited or deleted rows."""
    from riskaudit.ledger import Ledger

    with Ledger(ledger_path, create=False) as led:
        problems = led.verify()
        rows, path, version = led.count(), led.path, led.schema_version
    if problems:
        echo(f"Ledger {path} is DAMAGED ({len(problems)} problem{'s' if len(problems) != 1 else ''}):")
        for p in problems:
            echo(f"- {p}")
        ctx.exit(EXIT_CLOSED)
    echo(f"Ledger {path} is intact: {rows} rows, hash chain verified (schema version {version}). "
         "A chain cannot show rows cut from its tail: `riskaudit gate` compares it with the heads "
         "recorded in signed attestations and approvals.")
    ctx.exit(EXIT_OK)


@ledger.command("path")
@LEDGER_OPTION
def ledger_path_cmd(ledger_path):
    """Print where the ledger is."""
    from riskaudit.ledger import resolve_path

    click.echo(str(resolve_path(ledger_path)))


@click.command("history", context_settings=CONTEXT)
@click.option("--model", "model", help="Only audits of this model: a sha256 (or a prefix of 6+) or the model's file name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@LEDGER_OPTION
@_guard
def history(model, as_json, ledger_path):
    """List past audits recorded in the ledger, oldest first, with their approvals."""
    from riskaudit.gate import evaluate_records
    from riskaudit.ledger import Ledger, resolve_path

    if not resolve_path(ledger_path).exists():
        click.echo("No audits recorded yet (the ledger does not exist).")
        return
    with Ledger(ledger_path, create=False) as led:
        scans = led.scans(model)
        rows = []
        for s in scans:
            report = led.report(s.seq)
            evaluated = evaluate_records(report, led.approvals(s.digest))
            signed = sorted({f"{r['role']}:{r['who']}" + ("" if r["decision"] == "approve" else " (rejected)")
                             for r in evaluated if r["valid"]})
            rows.append((s, signed))
    if not rows:
        echo(f"No audits recorded for model {model!r}." if model else "No audits recorded yet.")
        return
    if as_json:
        for s, signed in rows:
            click.echo(json.dumps({**s.to_dict(), "approvals": signed}, sort_keys=True))
        return
    for s, signed in rows:
        model_text = f"{Path(s.model_uri).name if s.model_uri else '-'} {(s.model_sha256 or '')[:12]}"
        echo(f"{s.created_at or s.recorded_at}  {str(s.status).upper():<5}  {s.risk_tier or '-':<6}  "
                   f"{model_text:<32}  {s.digest[:19]}  approvals: {', '.join(signed) or 'none'}  "
                   f"{s.report_path or ''}")
