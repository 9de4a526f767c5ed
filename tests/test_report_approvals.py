"""The approval block is always true: on a fail the gate stays closed whatever is signed, and
each approval shows who, role, when, key fingerprint or 'unsigned'."""

import html
import re

from click.testing import CliRunner

from approval_support import make_audit, make_key
from riskaudit.approvals import approve
from riskaudit.commands.approvals import approve as approve_cmd, gate as gate_cmd
from riskaudit.reports.html import key_fingerprint


def _text(page):
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_on_a_fail_with_every_role_signed_approve_and_html_say_the_gate_stays_closed(tmp_path):
    audit = make_audit(tmp_path / "a", outcome="fail", html=True)
    _, key_path, public = make_key(tmp_path, "owner")
    runner = CliRunner()
    res = runner.invoke(approve_cmd, [str(audit.report), "--role", "model-owner", "--approver", "Olivia",
                                      "--key", str(key_path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(approve_cmd, [str(audit.report), "--role", "compliance", "--approver", "Carl <b>"])
    assert res.exit_code == 0, res.output
    assert "Approvals still needed: none, every required role has signed; but the gate stays closed" in res.output
    assert "The gate stays closed whatever is signed: the report's status is fail" in res.output
    assert runner.invoke(gate_cmd, [str(audit.report)]).exit_code == 1  # what the texts promise
    page = (audit.folder / "report.html").read_text(encoding="utf-8")
    approvals = _text(page[page.index('<section id="approvals">'):page.index('<section id="details">')])
    assert "The deployment gate stays closed whatever is signed: the report's status is fail" in approvals
    assert "before riskaudit gate lets it deploy" not in approvals
    assert f"Olivia model-owner approve" in approvals and key_fingerprint(public) in approvals
    assert "Carl <b> compliance approve" in approvals and "unsigned" in approvals
    assert "Carl <b>" not in page and "Carl &lt;b&gt;" in page
    assert re.search(r"model-owner approve \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", approvals)
    # the missing column agrees with the records: nothing is missing, yet the gate stays closed
    assert re.findall(r"<td>(model-owner|compliance)</td><td>1</td><td>[^<]+</td><td>0</td>", page)


def test_on_a_pass_the_block_names_the_missing_roles_and_no_closed_gate(tmp_path):
    audit = make_audit(tmp_path / "p", outcome="pass", html=True)
    approve(audit.report, role="model-owner", approver="Olivia")
    from riskaudit.gate import rerender_html

    rerender_html(audit.report)
    page = (audit.folder / "report.html").read_text(encoding="utf-8")
    block = _text(page[page.index('<section id="approvals">'):page.index('<section id="details">')])
    assert "stays closed" not in block and "before riskaudit gate lets it deploy" in block
    assert "riskaudit approve report.json --role compliance --approver" in block
    assert "--role model-owner" not in block.split("from the report's folder:")[1]


def test_fingerprint_is_stable_and_short():
    a = key_fingerprint("ed25519:NgHmAIPzYed0csIzZchQMgNW3GgQTUYUVo4JOMGnooQ=")
    assert a == key_fingerprint(" ed25519:NgHmAIPzYed0csIzZchQMgNW3GgQTUYUVo4JOMGnooQ= ")
    assert re.fullmatch(r"SHA256:[0-9a-f]{4}(:[0-9a-f]{4}){3}", a)
    assert key_fingerprint("") == ""
