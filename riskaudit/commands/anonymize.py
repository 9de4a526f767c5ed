"""``riskaudit anonymize DATA --out PATH``: write an anonymized copy of a dataset."""

from __future__ import annotations

import click


@click.command("anonymize")
@click.argument("data", type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out", required=True, type=click.Path(path_type=str),
              help="Where the anonymized copy goes (.csv, .tsv, .parquet, .jsonl).")
@click.option("--force", is_flag=True, default=False, help="Replace --out if it exists.")
@click.option("--policy", "policy", default="default", show_default=True,
              help="Built-in policy name or YAML file; its checks.pii.options choose the operators.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the column sample.")
def command(data: str, out: str, force: bool, policy: str, seed: int) -> None:
    """Write an anonymized copy of DATA to --out; the input is never changed.

    Personal-data columns are replaced, masked, redacted or hashed (salt from the
    environment variable RISKAUDIT_SALT or checks.pii.options.salt_file) per entity type;
    quasi-identifiers are generalized until k-anonymity holds.
    """
    from riskaudit.anonymize import anonymize

    result = anonymize(data, out, policy=policy, force=force, seed=seed, echo=click.echo)
    click.echo(f"Wrote {result.rows} rows to {result.out}")
