"""The command line: parse, call the library, render, exit with the code the result computes.

Every :class:`~riskaudit.errors.RiskauditError` and click usage error becomes exit 2 with
one paragraph on stderr and no traceback (``-v`` shows tracebacks of unexpected errors).
"""

from __future__ import annotations

import importlib
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import click

from riskaudit import _scope, supervise
from riskaudit._version import __version__
from riskaudit.errors import InputError, RiskauditError
from riskaudit.inert import terminal

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

# Feature commands live in riskaudit/commands/<feature>.py and are imported only when run.
LAZY_COMMANDS = {
    "anonymize": ("riskaudit.commands.anonymize:command", "Write an anonymized copy of a dataset."),
    "licenses": ("riskaudit.commands.licenses:command", "Run the license checker on its own and print the bill of materials."),
    "approve": ("riskaudit.commands.approvals:approve", "Record an approval or rejection bound to a report."),
    "gate": ("riskaudit.commands.approvals:gate", "Exit 0 only if this audited model may be deployed."),
    "keygen": ("riskaudit.commands.approvals:keygen", "Make an Ed25519 key pair for signing approvals."),
    "ledger": ("riskaudit.commands.approvals:ledger", "Inspect and verify the audit ledger."),
    "history": ("riskaudit.commands.approvals:history", "List past audits from the ledger."),
    "diff": ("riskaudit.commands.diff:command", "What changed between two audits (report.json files)."),
    "init": ("riskaudit.commands.init:command", "Write a commented riskaudit.yaml from a model and data files."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        available = [name for name, (target, _) in LAZY_COMMANDS.items() if _module_exists(target)]
        return sorted(set(super().list_commands(ctx)) | set(available))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is not None or name not in LAZY_COMMANDS:
            return cmd
        target = LAZY_COMMANDS[name][0]
        if not _module_exists(target):
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                rows.append((name, LAZY_COMMANDS[name][1]))
            else:
                cmd = self.commands[name]
                rows.append((name, cmd.get_short_help_str(limit=70)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _module_exists(target: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(target.split(":")[0]) is not None
    except ModuleNotFoundError:
        return False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="riskaudit")
def cli() -> None:
    """riskaudit: audit a trained model and its data before deployment.

    Exit codes: 0 passed, 1 the policy failed (or a check ended in error), 2 usage or input error.
    """


class StderrProgress:
    """Draws one progress line per checker on stderr (a bar on a terminal, lines otherwise)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._total = 0
        self._index = 0
        self._t0 = 0.0

    def check_started(self, check_id, description, index, total):
        self._index, self._total, self._t0 = index + 1, total, time.perf_counter()
        if not self.quiet and self.tty:
            self._draw(check_id, 0.0, "starting")

    def check_progress(self, check_id, fraction, message):
        now = time.perf_counter()
        if self.quiet or not self.tty or now - self._last < 0.1:
            return
        self._last = now
        self._draw(check_id, fraction, message)

    def _draw(self, check_id, fraction, message):
        width = 24
        filled = int(width * max(0.0, min(1.0, fraction)))
        bar = "█" * filled + "░" * (width - filled)
        line = f"[{self._index}/{self._total}] {check_id:<14} {bar} {fraction * 100:3.0f}% {message[:40]}"
        sys.stderr.write("\r" + terminal(line).ljust(100))
        sys.stderr.flush()

    def check_finished(self, result):
        if self.quiet:
            return
        text = (f"[{self._index}/{self._total}] {result.id:<14} {result.status.value.upper():<7} "
                f"{result.duration_s:6.1f}s  {result.summary}")
        if len(text) > 160:
            text = text[:159] + "…"
        if self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
        sys.stderr.write(terminal(text) + "\n")
        sys.stderr.flush()


def _comma_list(values) -> list[str]:
    out = []
    for v in values or ():
        out += [x.strip() for x in str(v).split(",") if x.strip()]
    return out


def _with_changes(report, settings: dict[str, Any], baseline: dict | None = None):
    """The report with what changed since the baseline report given (``baseline``, read
    once by :func:`run_scan`), else since the last approved audit of a model of the same
    file name in the ledger (none: unchanged)."""
    import dataclasses

    from riskaudit.reports.changes import compare, last_approved_of_model

    source = f"--baseline {Path(settings['baseline']).name}" if settings.get("baseline") else ""
    previous = baseline if source else None
    model = (report.subject.get("model") or {}).get("uri")
    if previous is None and model:
        try:
            previous = last_approved_of_model(model, ledger_path=settings.get("ledger"))
        except (RiskauditError, OSError):
            previous = None
        source = f"the last approved audit of {Path(str(model)).name} in the ledger"
    if previous is None:
        return report
    try:
        return dataclasses.replace(report, changes=compare(previous, report.to_dict(), source=source))
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        click.echo(f"riskaudit: warning: could not compare with {source}: {exc}", err=True)
        return report


def _record_in_ledger(report: dict, report_path: Path | None, ledger_path: str | None) -> dict | None:
    """Record the scan; returns the ledger's head after it (None when it could not be recorded)."""
    from riskaudit.ledger import Ledger

    try:
        with Ledger(ledger_path) as led:
            led.record_scan(report, report_path)
            return led.head()
    except (RiskauditError, OSError) as exc:
        click.echo(terminal(f"riskaudit: warning: the scan was not recorded in the audit ledger: {exc}"), err=True)
    return None


def _scanner_key(settings: dict[str, Any], formats) -> Any:
    """The scanner's Ed25519 private key (--scanner-key), checked before the scan starts."""
    if not settings.get("scanner_key"):
        return None
    from riskaudit.approvals import load_private_key

    if "json" not in formats:
        raise InputError("--scanner-key signs report.json: add json to --format")
    try:
        return load_private_key(settings["scanner_key"])
    except InputError as exc:
        raise InputError(str(exc).replace("--key:", "--scanner-key:", 1)) from None


def run_scan(settings: dict[str, Any], *, project_dir: Path, quiet: bool, verbose: bool,
             command: str) -> tuple[int, Path]:
    """Run a scan from merged settings, write the reports, print the verdict. Returns (code, out)."""
    from riskaudit.registry import Registry
    from riskaudit.reports.writer import parse_formats, write_reports
    from riskaudit.scan import scan

    formats = parse_formats(settings.get("format") or "html,json")
    for key, option in (("expectation_suite", "expectation_suite"), ("weights", "--weights")):
        if settings.get(key) and not Path(settings[key]).exists():
            raise InputError(f"{option}: file {settings[key]!r} does not exist")
    if not any(settings.get(k) for k in ("data", "reference", "train", "model")):
        raise InputError("nothing to audit: no riskaudit.yaml in this folder and no --data, "
                         "--reference, --train or --model given (see `riskaudit scan --help`)")
    out = Path(settings.get("out") or "riskaudit-report")
    scanner_key = _scanner_key(settings, formats)
    registry = Registry.from_entry_points()
    options = {k: dict(v or {}) for k, v in (settings.get("options") or {}).items()}
    project = {
        "project_dir": str(project_dir),
        "data_path": settings.get("data"),
        "reference_path": settings.get("reference"),
        "train_path": settings.get("train"),
        "model_path": settings.get("model"),
        "licenses": settings.get("licenses") or {},
        "train_entry_point": settings.get("train_entry_point"),
        "expectation_suite": settings.get("expectation_suite"),
        "spacy_model": settings.get("spacy_model"),
        "intended_purpose": settings.get("intended_purpose"),
        "owner": settings.get("owner"),
        "version": settings.get("version"),
    }
    project = {k: v for k, v in project.items() if v not in (None, {}, "")}
    seed = settings.get("seed", 0)
    policy = _arm_last_resort_stop(settings.get("policy") or "default")
    baseline = None
    if settings.get("baseline"):  # read once: for model drift and for the report's changes
        from riskaudit.scan import load_baseline

        baseline = load_baseline(settings["baseline"])
    report = scan(
        data=settings.get("data"), reference=settings.get("reference"), model=settings.get("model"),
        train=settings.get("train"), predictions=settings.get("predictions"),
        scores=settings.get("scores") or None,
        target=settings.get("target"), features=settings.get("features") or None,
        sensitive=settings.get("sensitive") or (), ids=settings.get("ids") or (),
        task=settings.get("task"), classes=settings.get("classes") or None,
        policy=policy, checks=settings.get("check") or None,
        skip=settings.get("skip") or (), seed=seed, device=settings.get("device") or "auto",
        trust_model=bool(settings.get("trust_model")), weights=settings.get("weights"),
        eval_mode=bool(settings.get("eval_mode")), options=options,
        risk_tier=settings.get("risk_tier"), project=project,
        baseline=baseline, ledger=settings.get("ledger"),
        full=bool(settings.get("full")), registry=registry,
        observer=StderrProgress(quiet=quiet), command=command, verbose=verbose,
        engine=settings.get("engine"), sample_rows=settings.get("spark_sample_rows"))
    report = _with_changes(report, settings, baseline)
    body = report.to_dict()
    from riskaudit.checks.licenses import sbom_files

    written = write_reports(body, out, formats, extra=sbom_files(body))
    head = _record_in_ledger(body, written.get("json"), settings.get("ledger"))
    if scanner_key is not None:  # the in-toto attestation of this report, signed (DSSE, Ed25519)
        from riskaudit import attestation

        att = attestation.write(attestation.sign(body, scanner_key, ledger_head=head), written["json"].parent)
        if not quiet:
            click.echo(f"Signed the scan attestation: {att}", err=True)
    elif written.get("json") is not None:  # an earlier scan's attestation is not about this report
        written["json"].with_name("report.intoto.json").unlink(missing_ok=True)
    main_file = written.get("html") or written.get("json") or next(iter(written.values()))
    click.echo(terminal(f"Verdict: {report.status.value.upper()} — report: {main_file}"))
    return report.exit_code, out


def _arm_last_resort_stop(policy_spec) -> Any:
    """End the process if the scan outlives its budget by far (a checker that could not be
    stopped): one message, exit 1, the previous reports left as they were. Armed only
    inside a click command; disarmed when the command's context closes. Returns the loaded
    policy (the scan takes it as it is, not loading it twice)."""
    import os

    from riskaudit.budget import hard_deadline, hard_grace
    from riskaudit.policy import load_policy

    ctx = click.get_current_context(silent=True)
    pol = load_policy(policy_spec)
    budget = pol.scan_budget
    if ctx is None or budget is None:
        return pol
    limit = budget + hard_grace(budget)

    def expire():
        sys.stderr.write(f"\nriskaudit: error: the scan ran {limit:.0f} s, past its time budget of {budget:g} s "
                         "(policy key max_runtime.scan_s), and a checker could not be stopped; no report "
                         "was written (the previous reports, if any, are unchanged)\n")
        sys.stderr.flush()
        supervise.finished()  # a stop of its own: the supervisor keeps its exit code
        os._exit(EXIT_FAIL)

    guard = hard_deadline(limit, expire)
    guard.__enter__()
    ctx.call_on_close(lambda: guard.__exit__(None, None, None))
    return pol


SCAN_OPTIONS = [
    click.option("--model", help="TorchScript (.pt/.pth), torch.export (.pt2), ONNX, or package.module:attr."),
    click.option("--weights", help="State dict for the module an entry point names (weights_only load)."),
    click.option("--data", help="Evaluation dataset: CSV, Parquet, JSON lines, NPZ or image folder."),
    click.option("--reference", help="Held-out data the model was validated on: the baseline of drift."),
    click.option("--train", help="The data the model was fitted on: leakage, generalization gap."),
    click.option("--predictions", help="Column of stored predictions, audited instead of a model."),
    click.option("--scores", help="Columns of stored class scores (comma-separated, class order), instead of a model."),
    click.option("--target", help="Label column."),
    click.option("--features", help="Model input columns, comma-separated, in model order (default: every "
                 "column but the target, ids, sensitive attributes and prediction columns)."),
    click.option("--sensitive", multiple=True, help="Protected attribute (repeatable)."),
    click.option("--ids", multiple=True, help="Identifier columns, never model inputs (repeatable, or comma-separated)."),
    click.option("--task", type=click.Choice(["classification", "regression"]), help="Default: inferred."),
    click.option("--policy", help="Built-in policy name (default, strict) or a YAML file."),
    click.option("--check", "check", multiple=True, help="Run only this checker (repeatable)."),
    click.option("--skip", multiple=True, help="Skip this checker (repeatable)."),
    click.option("--out", help="Report folder (default riskaudit-report/)."),
    click.option("--format", "fmt", help="Any of html,json,junit,md,sarif,evidence (default html,json)."),
    click.option("--seed", type=int, help="Seed of every random choice (default 0)."),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where the model runs."),
    click.option("--baseline", help="An earlier report.json of the same model (model drift; default: "
                 "the last approved audit of this model in the ledger)."),
    click.option("--ledger", help="The audit ledger (default $RISKAUDIT_LEDGER or ~/.riskaudit/ledger.sqlite3)."),
    click.option("--trust-model", is_flag=True, default=None, help="Allow unpickling the model file. Only for files you trust."),
    click.option("--eval-mode", is_flag=True, default=None, help="Call model.eval() after loading."),
    click.option("--scanner-key", help="Ed25519 private key (CI secret) that signs the scan attestation "
                 "report.intoto.json, which `riskaudit gate --trust` requires."),
    click.option("--allow-project-code", is_flag=True, default=False,
                 help="Let the project file (riskaudit.yaml, found or named) import code or unpickle "
                      "(train_entry_point, module:attr models, trust_model)."),
    click.option("--full", is_flag=True, default=False, help="pii: scan every row, not a sample."),
    click.option("--engine", type=click.Choice(["pandas", "spark"]),
                 help="Where data is read and aggregated (default pandas; spark: Parquet/Delta folders or "
                      "spark:catalog.schema.table, needs riskaudit[spark])."),
    click.option("-q", "--quiet", is_flag=True, help="Print only the verdict line."),
    click.option("-v", "--verbose", is_flag=True, help="Show library warnings and tracebacks."),
]


def _apply(options):
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


@cli.command()
@click.argument("project_file", required=False, type=click.Path(dir_okay=True))
@_apply(SCAN_OPTIONS)
@click.pass_context
def scan(ctx, project_file, **opts):
    """Audit a model and its data; write the reports; exit 0 (pass), 1 (fail) or 2 (bad input)."""
    from riskaudit.project import load_project

    project = load_project(project_file)
    if not opts["allow_project_code"]:
        project.refuse_code()
    settings = dict(project.values)
    cli_values = {
        "model": opts["model"], "weights": opts["weights"], "data": opts["data"],
        "reference": opts["reference"], "train": opts["train"], "target": opts["target"],
        "predictions": opts["predictions"],
        "scores": _comma_list([opts["scores"]]) if opts["scores"] else None,
        "features": _comma_list([opts["features"]]) if opts["features"] else None,
        "sensitive": list(opts["sensitive"]) or None, "ids": _comma_list(opts["ids"]) or None,
        "task": opts["task"], "policy": opts["policy"], "check": _comma_list(opts["check"]) or None,
        "skip": _comma_list(opts["skip"]) or None, "out": opts["out"], "format": opts["fmt"],
        "seed": opts["seed"], "device": opts["device"], "baseline": opts["baseline"], "ledger": opts["ledger"],
        "trust_model": opts["trust_model"], "eval_mode": opts["eval_mode"], "full": opts["full"] or None,
        "scanner_key": opts["scanner_key"], "engine": opts["engine"],
    }
    # what stands for the model is one setting: stored predictions on the command line replace
    # the project file's model, and a model there replaces its stored predictions
    if cli_values["model"] is None and (cli_values["predictions"] or cli_values["scores"]):
        settings.pop("model", None)
        settings.pop("weights", None)
    elif cli_values["model"] is not None:
        settings.pop("predictions", None)
        settings.pop("scores", None)
    settings.update({k: v for k, v in cli_values.items() if v is not None})
    command = "riskaudit " + shlex.join(sys.argv[1:]) if sys.argv and "riskaudit" in sys.argv[0] else None
    code, _ = run_scan(settings, project_dir=project.folder, quiet=opts["quiet"], verbose=opts["verbose"],
                       command=command or "riskaudit scan")
    ctx.exit(code)


@cli.command()
@click.option("--out", default="riskaudit-demo", show_default=True, help="Folder for the demo's inputs and reports.")
@click.option("--format", "fmt", default="html,json,junit,md", show_default=True, help="Report formats.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the verdict line.")
@click.option("-v", "--verbose", is_flag=True, help="Show library warnings and tracebacks.")
@click.pass_context
def demo(ctx, out, fmt, quiet, verbose):
    """Run the real scan on the embedded demo model and data (planted defects, by design).

    The demo's model fails the policy on purpose, so this exits 1 after writing the reports.
    """
    from riskaudit.demo import prepare_demo
    from riskaudit.project import load_project

    out_dir = Path(out)
    if not quiet:
        click.echo(f"Preparing the demo inputs in {out_dir / 'inputs'} …", err=True)
    project_file = prepare_demo(out_dir / "inputs")
    project = load_project(project_file)
    settings = dict(project.values)
    settings.update({"out": str(out_dir), "format": fmt})
    from riskaudit.registry import Registry

    installed = Registry.from_entry_points()  # a partial install runs the demo with what it has
    settings["options"] = {k: v for k, v in (settings.get("options") or {}).items() if k in installed}
    code, _ = run_scan(settings, project_dir=project.folder, quiet=quiet, verbose=verbose,
                       command=f"riskaudit scan {project_file} --out {out_dir}")
    if not quiet:
        click.echo(f"Demo project file: {project_file} (edit it and run `riskaudit scan {project_file}`)", err=True)
    ctx.exit(code)


@cli.command("checks")
@click.option("-v", "--verbose", is_flag=True, help="Also list each checker's options and finding kinds.")
def list_checks(verbose):
    """List the installed checkers (built-in and plugins)."""
    from riskaudit.registry import Registry

    reg = Registry.from_entry_points()
    if not len(reg):
        click.echo("No checkers are installed.")
        return
    width = max(len(c) for c in reg.ids)
    for cid in reg.ids:
        checker = reg[cid]
        info = reg.info(cid)
        needs = ", ".join(sorted(n.value for n in checker.needs)) or "nothing"
        click.echo(f"{cid:<{width}}  {checker.description}  [needs: {needs}; from {info.source}]")
        if verbose:
            for name, opt in checker.options.items():
                click.echo(f"{'':<{width}}    option {name} = {opt.default!r}: {opt.doc}")
            for name, kind in checker.kinds.items():
                click.echo(f"{'':<{width}}    kind {cid}.{name}: {kind.doc} (bad when {kind.direction} "
                           f"the level; fail {kind.fail}, warn {kind.warn}, severity {kind.severity.value})")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exit with the code the command computed (``scan`` and ``demo``
    under a supervisor process, :mod:`riskaudit.supervise`)."""
    if argv is None and supervise.wanted(sys.argv[1:]):
        supervised = supervise.start()
        if supervised is not None:  # the supervisor: the command ran in its child
            sys.exit(supervised)
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    try:
        with _scope.offline():  # the whole command: no library reaches the network
            code = cli.main(args=argv, prog_name="riskaudit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("riskaudit: aborted", err=True)
        code = EXIT_USAGE
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "riskaudit"
        click.echo(terminal(f"riskaudit: error: {exc.format_message()} (see '{where} --help')"), err=True)
        code = EXIT_USAGE
    except click.ClickException as exc:
        click.echo(terminal(f"riskaudit: error: {exc.format_message()}"), err=True)
        code = exc.exit_code if exc.exit_code in (EXIT_FAIL, EXIT_USAGE) else EXIT_USAGE
    except RiskauditError as exc:
        click.echo(terminal(f"riskaudit: error: {exc}"), err=True)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        click.echo("riskaudit: interrupted", err=True)
        code = 130
    except Exception as exc:  # an unexpected failure: one message, traceback only with -v
        if verbose:
            traceback.print_exc()
        click.echo(terminal(f"riskaudit: unexpected error: {type(exc).__name__}: {exc} "
                            "(run with -v for the traceback, and please report it)"), err=True)
        code = EXIT_USAGE
    code = code if isinstance(code, int) else 0
    if argv is None:  # the console command, not a caller in this process
        supervise.finished()
        _leave(code)
    sys.exit(code)


HEAVY_TEARDOWN = ("torch", "spacy", "great_expectations", "pyspark", "sklearn", "pandas")
"""Libraries whose objects the interpreter takes long to free at exit (pandas and numpy:
about 0.1 s; with torch, spaCy or great-expectations: about a second)."""


def _leave(code: int) -> None:
    """Exit the console command with ``code``, without the interpreter's teardown when a
    heavy library is loaded: freeing pandas' objects and modules takes about 0.1 s, torch's,
    spaCy's and great-expectations' about a second, after every file is written and closed. The exit handlers
    still run (temporary folders, logging, a Spark session, multiprocessing children) and
    the standard streams are flushed; then ``os._exit``. A thread still working (not a
    daemon) gets the normal exit, which waits for it, and so does a run under a profiler
    or a tracer (``python -m cProfile``, coverage), which writes its figures after."""
    import atexit
    import os
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if not any(m in sys.modules for m in HEAVY_TEARDOWN) or any(not t.daemon for t in others) \
            or sys.getprofile() is not None or sys.gettrace() is not None:  # a profiler writes at the end
        sys.exit(code)
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a closed pipe: nothing more can be said
                pass
        os._exit(code)
