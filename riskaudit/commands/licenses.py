"""``riskaudit licenses [PATH ...]``: the license checker on its own.

Prints the bill of materials (data, model, software) with each component's license, the
evidence it was read from and the verdict under the policy; ``--format cyclonedx`` prints a
CycloneDX SBOM instead, ``--format json`` the check result. Exit codes as for every
command: 0 no finding at fail, 1 a finding at fail (or the check ended in error), 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from riskaudit.errors import InputError

__all__ = ["command", "render_table"]


def render_table(rows: list[dict], *, width: int = 100) -> str:
    """The bill of materials as a plain-text table."""
    cols = [("type", 8), ("component", 28), ("version", 12), ("license", 28), ("verdict", 7), ("evidence", 60)]
    lines = ["  ".join(name.upper().ljust(w) for name, w in cols).rstrip()]
    for r in rows:
        cells = []
        for name, w in cols:
            val = r.get(name)
            text = "-" if val in (None, "") else str(val)
            if name == "verdict" and r.get("exception"):
                text += "*"
            cells.append(text if len(text) <= w or name == "evidence" else text[: w - 1] + "…")
        lines.append("  ".join(c.ljust(w) for c, (_, w) in zip(cells, cols)).rstrip())
    return "\n".join(lines)


@click.command(name="licenses")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--project", "project_file", type=click.Path(path_type=str),
              help="Project file (default: riskaudit.yaml here when no PATH is given).")
@click.option("--policy", default=None, help="Built-in policy name or YAML file (default: the project's, else 'default').")
@click.option("--commercial/--non-commercial", default=None, help="Intended use (overrides the policy).")
@click.option("--distribution", type=click.Choice(["internal", "saas", "distributed"]), default=None,
              help="How the model reaches users (overrides the policy).")
@click.option("--requirements", type=click.Path(path_type=str), default=None,
              help="Read software components from this requirements / lock file instead of the environment.")
@click.option("--no-software", is_flag=True, help="Leave the installed Python distributions out.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "cyclonedx"]), default="table",
              help="table (default), json (the check result) or cyclonedx (a CycloneDX 1.6 SBOM).")
@click.option("--all", "show_all", is_flag=True, help="List every software component, not only those with a finding.")
@click.pass_context
def command(ctx: click.Context, paths, project_file, policy, commercial, distribution, requirements,
            no_software, fmt, show_all) -> None:
    """Check the licenses of data, models and software in PATH (files or folders).

    Without PATH, the data, reference and model of the project file are examined. PATH may
    also be a requirements or lock file (software components).
    """
    from riskaudit.checks.licenses import LicensesChecker, cyclonedx_json
    from riskaudit.project import load_project
    from riskaudit.registry import Registry
    from riskaudit.scan import scan

    for p in paths:
        if not Path(p).exists():
            raise InputError(f"licenses: path {p!r} does not exist")
    if requirements and not Path(requirements).is_file():
        raise InputError(f"licenses: --requirements file {requirements!r} does not exist")
    proj = load_project(project_file) if (project_file or not paths) else None
    values = proj.values if proj is not None else {}
    project = {"project_dir": str(proj.folder if proj is not None and proj.path else Path.cwd()),
               "data_path": values.get("data"), "reference_path": values.get("reference"),
               "model_path": values.get("model"), "licenses": values.get("licenses") or {}}
    project = {k: v for k, v in project.items() if v not in (None, {}, "")}
    options = dict((values.get("options") or {}).get("licenses") or {})
    options["paths"] = [str(Path(p).resolve()) for p in paths] + list(options.get("paths") or [])
    if commercial is not None:
        options["commercial"] = commercial
    if distribution:
        options["distribution"] = distribution
    if requirements:
        options["requirements"] = str(Path(requirements).resolve())
    if no_software:
        options["software"] = "none"
    report = scan(registry=Registry.from_classes([LicensesChecker]), policy=policy or values.get("policy") or "default",
                  project=project, options={"licenses": options}, command="licenses")
    result = report.check("licenses")
    if fmt == "cyclonedx":
        click.echo(cyclonedx_json(result))
    elif fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        rows = list(result.metrics.get("components") or [])
        shown = rows if show_all else [r for r in rows if r["type"] != "software" or r["verdict"] != "pass"
                                        or r.get("exception")]
        if shown:
            click.echo(render_table(shown))
        hidden = len(rows) - len(shown)
        if hidden:
            click.echo(f"({hidden} software components pass and are not listed; --all lists them)")
        for f in result.findings:
            if f.status.value != "pass":
                click.echo(f"{f.status.value.upper():5} {f.id}  {f.message}")
        click.echo(f"Verdict: {result.status.value.upper()} — {result.summary}")
    ctx.exit(report.exit_code)
