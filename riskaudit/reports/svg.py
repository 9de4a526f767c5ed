"""Chart specs from checker evidence -> inline SVG strings (no scripts, no network).

Every text that lands in the SVG is escaped here; the HTML template inserts the result as
markup (``|safe``) because this module produced it.

Charts
======

A checker puts chart specs in a list under ``"charts"`` in a finding's ``evidence`` or in
its ``metrics``; the HTML report draws each one under the finding (or the check). Specs are
plain JSON data, so they also travel in ``report.json``. Every spec has ``type`` and
``title``; :func:`validate_chart` lists what is wrong with one (the conformance suite in
``riskaudit.testing`` runs it on every chart a checker emits). Numbers may be ``None`` (not
drawn); text is escaped.

``bar`` — one bar per label, optional error bars and horizontal reference lines::

    {"type": "bar", "title": "Selection rate by sex", "labels": ["female", "male"],
     "values": [0.31, 0.52], "errors": [[0.27, 0.35], [0.49, 0.55]],
     "y_label": "selection rate", "x_label": "sex",
     "reference_lines": [{"value": 0.42, "label": "overall"}]}

``line`` — series over a shared numeric x axis::

    {"type": "line", "title": "Accuracy vs. epsilon", "x": [0, 0.05, 0.1],
     "series": [{"name": "FGM", "y": [0.95, 0.81, 0.60]}],
     "x_label": "epsilon", "y_label": "accuracy",
     "reference_lines": [{"value": 0.76, "label": "policy minimum"}]}

``histogram`` — binned shares of one or more series; bins named by ``edges`` (numeric,
one more than the bins) or ``labels`` (categories, one per bin)::

    {"type": "histogram", "title": "income: reference vs current", "edges": [0, 10, 20, 30],
     "series": [{"name": "reference", "values": [0.2, 0.5, 0.3]},
                {"name": "current", "values": [0.1, 0.4, 0.5]}], "y_label": "share"}

``images`` — small grey-scale thumbnails, pixel values in [0, 1] (rows of columns)::

    {"type": "images", "title": "Adversarial examples",
     "images": [{"caption": "7 -> 1", "pixels": [[0.0, 0.5], [1.0, 0.2]]}]}
"""

from __future__ import annotations

import math
from html import escape as _html_escape
from typing import Any, Mapping, Sequence

from riskaudit.inert import visible

from riskaudit.reports.plain import number


def escape(text: Any) -> str:
    """Text for the SVG: invisible characters shown (:func:`riskaudit.inert.visible`), then
    HTML-escaped."""
    return _html_escape(visible(text))

W, H = 560, 240
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 28, 56
PALETTE = ["#3366cc", "#dc6b2f", "#2e9e6a", "#a04cc2", "#c23b4c", "#7a7a7a"]


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _nice_step(span: float, target: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about ``target`` ticks."""
    raw = span / max(target - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _nice_range(values: Sequence[float | None], include_zero: bool = True) -> tuple[float, float]:
    vals = [v for v in values if v is not None]
    lo = min(vals + ([0.0] if include_zero else [])) if vals else 0.0
    hi = max(vals) if vals else 1.0
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    step = _nice_step(hi - lo)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def _ticks(lo: float, hi: float, log: bool = False) -> list[float]:
    if log:
        return [10.0 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) if lo <= e <= hi]
    step = _nice_step(hi - lo)
    n = int(round((hi - lo) / step))
    return [round(lo + i * step, 12) for i in range(n + 1)]


def _frame(title: str, y_label: str, x_label: str, lo: float, hi: float, log: bool = False,
           subtitle: str = "") -> list[str]:
    short_title = title if len(title) <= 70 else title[:69] + "…"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{escape(title)}" class="chart">',
             f'<title>{escape(title)}</title>',
             f'<text x="{W / 2}" y="16" text-anchor="middle" class="ct">{escape(short_title)}</text>']
    if subtitle:
        parts.append(f'<text x="{W / 2}" y="{PAD_T - 1}" text-anchor="middle" class="reflabel">'
                     f'{escape(subtitle if len(subtitle) <= 95 else subtitle[:94] + "…")}</text>')
    for v in _ticks(lo, hi, log):
        y = _y(math.log10(v) if log else v, lo, hi)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(v, log)}</text>')
    if y_label:
        label = y_label + (" (log scale)" if log else "")
        parts.append(f'<text x="12" y="{(PAD_T + H - PAD_B) / 2}" transform="rotate(-90 12 '
                     f'{(PAD_T + H - PAD_B) / 2})" text-anchor="middle" class="axis">{escape(label)}</text>')
    if x_label:
        parts.append(f'<text x="{(PAD_L + W - PAD_R) / 2}" y="{H - 6}" text-anchor="middle" '
                     f'class="axis">{escape(x_label)}</text>')
    return parts


def _fmt(v: float, log: bool = False) -> str:
    """Tick and value text: plain rounded numbers; powers of ten on a log axis."""
    if log and v < 1e-3:
        return "10" + str(round(math.log10(v))).translate(_SUPERSCRIPT)
    return number(v)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _label_lines(label: str, width_px: float, max_lines: int = 2) -> tuple[list[str], bool]:
    """Wrap ``label`` into at most ``max_lines`` lines that fit ``width_px`` (10 px text);
    returns the lines and whether anything was cut (then the full label goes in a title)."""
    per_line = max(int(width_px / 5.6), 3)
    words, lines, cur = label.split(), [], ""
    for w in words or [label]:
        while len(w) > per_line:
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(w[:per_line])
            w = w[per_line:]
        cand = f"{cur} {w}".strip()
        if len(cand) <= per_line:
            cur = cand
        else:
            lines.append(cur)
            cur = w
    if cur:
        lines.append(cur)
    cut = len(lines) > max_lines
    lines = lines[:max_lines]
    if cut:
        lines[-1] = lines[-1][: max(per_line - 1, 1)] + "…"
    return lines, cut


def _x_label(label: str, cx: float, width_px: float) -> str:
    lines, cut = _label_lines(label, width_px)
    spans = "".join(f'<tspan x="{cx:.1f}" dy="{0 if i == 0 else 11}">{escape(t)}</tspan>'
                    for i, t in enumerate(lines))
    title = f"<title>{escape(label)}</title>" if cut or len(lines) > 1 else ""
    return (f'<text x="{cx:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" class="tick">'
            f'{title}{spans}</text>')


def _y(v: float, lo: float, hi: float) -> float:
    return PAD_T + (H - PAD_T - PAD_B) * (1 - (v - lo) / (hi - lo))


def _ref_lines(spec: Mapping[str, Any], lo: float, hi: float, log: bool = False) -> list[str]:
    out = []
    for line in spec.get("reference_lines") or []:
        v = _num(line.get("value"))
        if v is None or (log and v <= 0):
            continue
        pos = math.log10(v) if log else v
        if not lo <= pos <= hi:
            continue
        y = _y(pos, lo, hi)
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="ref"/>')
        out.append(f'<text x="{W - PAD_R}" y="{y - 4:.1f}" text-anchor="end" class="reflabel">'
                   f'{escape(str(line.get("label", "")))}</text>')
    return out


def _log_range(values: Sequence[float | None]) -> tuple[float, float]:
    pos = [v for v in values if v is not None and v > 0]
    if not pos:
        return -1.0, 0.0
    return float(math.floor(math.log10(min(pos)))), float(math.ceil(math.log10(max(pos)) + 1e-12))


def _use_log(spec: Mapping[str, Any], values: Sequence[float | None], refs: Sequence[float | None]) -> bool:
    """Log scale when asked, or when every value is tiny (under 1 %) against a reference line."""
    if spec.get("scale") == "log":
        return True
    vals = [v for v in values if v is not None]
    lim = [r for r in refs if r is not None and r > 0]
    return bool(vals and lim and min(v for v in vals) >= 0 and max(vals) < max(lim) / 100)


def bar(spec: Mapping[str, Any]) -> str:
    labels = [str(x) for x in spec.get("labels", [])]
    values = [_num(v) for v in spec.get("values", [])]
    errors = spec.get("errors") or []
    refs = [_num(r.get("value")) for r in spec.get("reference_lines") or []]
    err_vals = [_num(e) for pair in errors for e in (pair or []) if pair]
    log = _use_log(spec, values, refs)
    lo, hi = _log_range(values + err_vals + refs) if log else _nice_range(values + err_vals + refs)

    def pos(v):
        return (math.log10(v) if v > 0 else lo) if log else v

    parts = _frame(str(spec.get("title", "")), str(spec.get("y_label", "")), str(spec.get("x_label", "")), lo, hi,
                   log=log, subtitle=str(spec.get("subtitle", "")))
    n = max(len(labels), 1)
    slot = (W - PAD_L - PAD_R) / n
    bw = min(48.0, slot * 0.7)
    marked = set(spec.get("highlight") or [])
    for i, (lab, v) in enumerate(zip(labels, values)):
        cx = PAD_L + slot * (i + 0.5)
        if v is not None:
            y0, y1 = _y(lo if log else max(lo, 0), lo, hi), _y(pos(v), lo, hi)
            color = "#b3261e" if i in marked else PALETTE[0]
            parts.append(f'<rect x="{cx - bw / 2:.1f}" y="{min(y0, y1):.1f}" width="{bw:.1f}" '
                         f'height="{abs(y0 - y1):.1f}" fill="{color}"><title>{escape(lab)}: '
                         f'{_fmt(v)}</title></rect>')
        if i < len(errors) and errors[i] and len(errors[i]) == 2:
            a, b = _num(errors[i][0]), _num(errors[i][1])
            if a is not None and b is not None:
                ya, yb = _y(pos(a), lo, hi), _y(pos(b), lo, hi)
                parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{ya:.1f}" y2="{yb:.1f}" class="err"/>'
                             f'<line x1="{cx - 6:.1f}" x2="{cx + 6:.1f}" y1="{ya:.1f}" y2="{ya:.1f}" class="err"/>'
                             f'<line x1="{cx - 6:.1f}" x2="{cx + 6:.1f}" y1="{yb:.1f}" y2="{yb:.1f}" class="err"/>')
        parts.append(_x_label(lab, cx, slot - 2))
    split = spec.get("split_before")
    if isinstance(split, int) and 0 < split < n:
        x = PAD_L + slot * split
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="ref"/>'
                     f'<text x="{x + 4:.1f}" y="{PAD_T + 10}" class="reflabel">'
                     f'{escape(str(spec.get("split_label", "")))}</text>')
    parts += _ref_lines(spec, lo, hi, log)
    parts.append("</svg>")
    return "".join(parts)


def line(spec: Mapping[str, Any]) -> str:
    xs = [_num(x) for x in spec.get("x", [])]
    series = spec.get("series") or []
    ys = [_num(v) for s in series for v in s.get("y", [])]
    refs = [_num(r.get("value")) for r in spec.get("reference_lines") or []]
    lo, hi = _nice_range(ys + refs)
    xv = [x for x in xs if x is not None] or [0.0, 1.0]
    xlo, xhi = min(xv), max(xv)
    if xhi == xlo:
        xhi = xlo + 1
    parts = _frame(str(spec.get("title", "")), str(spec.get("y_label", "")), str(spec.get("x_label", "")), lo, hi,
                   subtitle=str(spec.get("subtitle", "")))

    def xp(x):
        return PAD_L + (W - PAD_L - PAD_R) * (x - xlo) / (xhi - xlo)

    for x in sorted(set(xv)):
        parts.append(f'<text x="{xp(x):.1f}" y="{H - PAD_B + 14}" text-anchor="middle" class="tick">{_fmt(x)}</text>')
    for k, s in enumerate(series):
        pts = [(xp(x), _y(y, lo, hi)) for x, y in zip(xs, [_num(v) for v in s.get("y", [])])
               if x is not None and y is not None]
        color = PALETTE[k % len(PALETTE)]
        if pts:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in pts]
        parts.append(f'<text x="{PAD_L + 8 + 130 * k}" y="{H - 22}" class="legend" fill="{color}">'
                     f'■ {escape(str(s.get("name", "")))}</text>')
    parts += _ref_lines(spec, lo, hi)
    parts.append("</svg>")
    return "".join(parts)


def histogram(spec: Mapping[str, Any]) -> str:
    series = spec.get("series") or []
    edges = [_num(e) for e in spec.get("edges") or []]
    labels = [str(x) for x in spec.get("labels") or []]
    nbins = max((len(s.get("values", [])) for s in series), default=0)
    if not labels:
        labels = [_fmt(e) if e is not None else "" for e in edges[:nbins]] if edges else [str(i) for i in range(nbins)]
    vals = [_num(v) for s in series for v in s.get("values", [])]
    lo, hi = _nice_range(vals)
    parts = _frame(str(spec.get("title", "")), str(spec.get("y_label", "share")), str(spec.get("x_label", "")), lo, hi,
                   subtitle=str(spec.get("subtitle", "")))
    slot = (W - PAD_L - PAD_R) / max(nbins, 1)
    k = max(len(series), 1)
    bw = slot * 0.85 / k
    for j, s in enumerate(series):
        color = PALETTE[j % len(PALETTE)]
        for i, v in enumerate(s.get("values", [])):
            v = _num(v)
            if v is None:
                continue
            x = PAD_L + slot * i + slot * 0.075 + bw * j
            y0, y1 = _y(0, lo, hi), _y(v, lo, hi)
            parts.append(f'<rect x="{x:.1f}" y="{y1:.1f}" width="{bw:.1f}" height="{max(y0 - y1, 0):.1f}" '
                         f'fill="{color}" fill-opacity="0.75"/>')
        parts.append(f'<text x="{PAD_L + 8 + 130 * j}" y="{H - 22}" class="legend" fill="{color}">'
                     f'■ {escape(str(s.get("name", "")))}</text>')
    step = max(1, math.ceil(nbins / 8))
    for i in range(0, nbins, step):
        if i < len(labels):
            parts.append(_x_label(labels[i], PAD_L + slot * (i + 0.5), slot * step - 2))
    parts += _ref_lines(spec, lo, hi)
    parts.append("</svg>")
    return "".join(parts)


def images(spec: Mapping[str, Any]) -> str:
    items = spec.get("images") or []
    cell, gap = 72, 14
    width = max(len(items), 1) * (cell + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {cell + 52}" class="chart imgs" '
             f'role="img" aria-label="{escape(str(spec.get("title", "")))}">',
             f'<text x="{gap}" y="14" class="ct">{escape(str(spec.get("title", "")))}</text>']
    for i, item in enumerate(items):
        px = item.get("pixels") or [[0.0]]
        rows, cols = len(px), max(len(r) for r in px) if px else 1
        s = cell / max(rows, cols, 1)
        x0, y0 = gap + i * (cell + gap), 22
        for r, row in enumerate(px):
            for c, v in enumerate(row):
                v = _num(v)
                g = 0 if v is None else int(round(255 * min(max(v, 0.0), 1.0)))
                parts.append(f'<rect x="{x0 + c * s:.1f}" y="{y0 + r * s:.1f}" width="{s + 0.3:.1f}" '
                             f'height="{s + 0.3:.1f}" fill="rgb({g},{g},{g})"/>')
        parts.append(f'<text x="{x0 + cell / 2:.1f}" y="{y0 + cell + 16}" text-anchor="middle" class="tick">'
                     f'{escape(str(item.get("caption", "")))}</text>')
    parts.append("</svg>")
    return "".join(parts)


RENDERERS = {"bar": bar, "line": line, "histogram": histogram, "images": images}


def _is_num(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _numbers(spec: Mapping[str, Any], key: str, problems: list[str], *, required: bool = True) -> list:
    vals = spec.get(key)
    if vals is None and not required:
        return []
    if not isinstance(vals, (list, tuple)) or not all(_is_num(v) for v in vals):
        problems.append(f"'{key}' must be a list of numbers (or null)")
        return []
    return list(vals)


def validate_chart(spec: Any) -> list[str]:
    """What is wrong with a chart spec (empty when it is well-formed); see the module doc."""
    if not isinstance(spec, Mapping):
        return [f"a chart spec must be a mapping, got {type(spec).__name__}"]
    kind = spec.get("type")
    if kind not in RENDERERS:
        return [f"unknown chart type {kind!r} (known: {', '.join(RENDERERS)})"]
    problems: list[str] = []
    if not isinstance(spec.get("title"), str) or not spec["title"]:
        problems.append("'title' must be a non-empty string")
    for ref in spec.get("reference_lines") or []:
        if not isinstance(ref, Mapping) or not _is_num(ref.get("value")):
            problems.append("each reference line must be {'value': number, 'label': text}")
    if kind == "bar":
        labels = spec.get("labels")
        values = _numbers(spec, "values", problems)
        if not isinstance(labels, (list, tuple)) or len(labels) != len(values):
            problems.append("'labels' must be a list as long as 'values'")
        errors = spec.get("errors")
        if errors is not None and (not isinstance(errors, (list, tuple)) or len(errors) != len(values) or not all(
                e is None or (isinstance(e, (list, tuple)) and len(e) == 2 and all(map(_is_num, e))) for e in errors)):
            problems.append("'errors' must hold one [low, high] pair (or null) per bar")
    elif kind == "line":
        xs = _numbers(spec, "x", problems)
        series = spec.get("series")
        if not isinstance(series, (list, tuple)) or not series:
            problems.append("'series' must be a non-empty list of {'name', 'y'}")
        else:
            for s in series:
                if not isinstance(s, Mapping) or len(_numbers(s, "y", problems)) != len(xs):
                    problems.append("each series needs 'y' with one number (or null) per x")
    elif kind == "histogram":
        series = spec.get("series")
        if not isinstance(series, (list, tuple)) or not series:
            problems.append("'series' must be a non-empty list of {'name', 'values'}")
            return problems
        bins = {len(_numbers(s, "values", problems)) if isinstance(s, Mapping) else -1 for s in series}
        if len(bins) != 1:
            problems.append("every series needs the same number of 'values' (one per bin)")
        nbins = max(bins)
        edges = _numbers(spec, "edges", problems, required=False)
        labels = spec.get("labels")
        if edges and len(edges) != nbins + 1:
            problems.append("'edges' must have one more entry than there are bins")
        if labels is not None and (not isinstance(labels, (list, tuple)) or len(labels) != nbins):
            problems.append("'labels' must name each bin once")
    elif kind == "images":
        items = spec.get("images")
        if not isinstance(items, (list, tuple)) or not items:
            problems.append("'images' must be a non-empty list of {'caption', 'pixels'}")
            return problems
        for item in items:
            px = item.get("pixels") if isinstance(item, Mapping) else None
            ok = isinstance(px, (list, tuple)) and px and all(
                isinstance(r, (list, tuple)) and all(v is None or (_is_num(v) and 0 <= v <= 1) for v in r) for r in px)
            if not ok:
                problems.append("each image needs 'pixels': rows of numbers in [0, 1]")
                break
    return problems


def render_chart(spec: Any) -> str | None:
    """SVG for a chart spec, or None when the spec is not a known chart."""
    if not isinstance(spec, Mapping):
        return None
    fn = RENDERERS.get(str(spec.get("type")))
    if fn is None:
        return None
    try:
        return fn(spec)
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        return None
