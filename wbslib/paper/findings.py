"""Notebook 05's key findings, written from the numbers: one wide table (a row per group, ours beside
the paper's), three sentences (2x vs 1x, 3x vs 1x, enhanced vs raw), flags for degenerate or
suspicious results, and the run's departures from the paper's method (`method.departures`).

Nothing is recomputed: the numbers are those of `tables.table2` (Wilson 95 % CI), `tables.table3`
(exact McNemar) and `tables.auc_table` (DeLong 95 % CI); the adjudicated reads are only looked at to
see whether every rating of a group is tied. Proportions and AUC read '0.83 (0.70–0.91)'; p reads
'p < 0.001' or 2 significant digits.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from wbslib.core.groups import PAPER_GROUPS, STANDARD, is_model, is_raw, ordered_groups, parse_group
from wbslib.paper.method import departures
from wbslib.paper.tables import PUBLISHED_MCNEMAR, PUBLISHED_PERFORMANCE, published_auc
from wbslib.stats.proportions import MEASURES

NEEDS_REFERENCE = "needs the reference standard"
CHANCE = 0.01  # an AUC this close to 0.5 from all-tied ratings is flagged
COLUMNS = {
    "group": "Images",
    "accuracy": "Accuracy (95 % CI)",
    "paper_accuracy": "Paper",
    "sensitivity": "Sensitivity (95 % CI)",
    "paper_sensitivity": "Paper",
    "specificity": "Specificity (95 % CI)",
    "paper_specificity": "Paper",
    "auc": "AUC (95 % CI)",
    "paper_auc": "Paper",
    "p": "McNemar p vs 1x",
    "paper_p": "Paper",
    "flag": "Flag",
}


def p_text(p: float, named: bool = True) -> str:
    """'p < 0.001' or 'p = 0.12' (2 significant digits); without `named` '< 0.001' or '0.12'; '—' for NaN."""
    if p is None or not np.isfinite(p):
        return "—"
    digits = f"{p:.2g}" if p < 1 else "1.0"
    text = "< 0.001" if p < 0.001 else digits
    return text if not named else f"p {text}" if p < 0.001 else f"p = {text}"


def interval(estimate: float, low: float, high: float) -> str:
    """'0.83 (0.70–0.91)'; '—' when the estimate is NaN."""
    if not np.isfinite(estimate):
        return "—"
    ci = f" ({low:.2f}–{high:.2f})" if np.isfinite(low) and np.isfinite(high) else ""
    return f"{estimate:.2f}{ci}"


def _numbers(t2: pd.DataFrame, t3: pd.DataFrame, auc: pd.DataFrame) -> dict[str, dict]:
    """Per group: each measure's row of `t2`, its `auc` row and its accuracy row vs 1x of `t3`."""
    out = {}
    for group in ordered_groups(t2["group"]):
        rows = t2[t2["group"] == group].set_index("measure")
        a = auc[auc["group"] == group]
        m = t3[(t3["a"] == group) & (t3["b"] == STANDARD) & (t3["measure"] == "accuracy")] if len(t3) else t3
        out[group] = {
            **{measure: rows.loc[measure] for measure in MEASURES if measure in rows.index},
            "auc": a.iloc[0] if len(a) else None,
            "mcnemar": m.iloc[0] if len(m) else None,
        }
    return out


def _signature(n: dict) -> tuple:
    cells = tuple((n[m]["k"], n[m]["n"]) for m in MEASURES if m in n)
    a = n["auc"]
    return cells + ((round(float(a["auc"]), 6) if a is not None and np.isfinite(a["auc"]) else None),)


def flags(adjudicated: pd.DataFrame, t2, t3, auc, alpha: float = 0.05) -> dict[str, list[str]]:
    """Short texts per group for results that need a second look: one call for every patient, an AUC
    within `CHANCE` of 0.5 from all-tied ratings, NaN statistics, the same numbers as another group,
    and too few patients or discordant pairs for a test to mean anything. Groups without a flag
    map to []."""
    numbers = _numbers(t2, t3, auc)
    out: dict[str, list[str]] = {g: [] for g in numbers}
    for group, n in numbers.items():
        sens, spec = n["sensitivity"], n["specificity"]
        if sens["k"] == sens["n"] and spec["k"] == 0:
            out[group].append(f"every patient called malignant (specificity {spec['k']}/{spec['n']})")
        elif sens["k"] == 0 and spec["k"] == spec["n"]:
            out[group].append(f"every patient called benign (sensitivity {sens['k']}/{sens['n']})")
        nan = [m for m in MEASURES if pd.isna(n[m][["estimate", "ci_low", "ci_high"]]).any()]
        a = n["auc"]
        if a is not None and str(a["ours"]).startswith("not analysed"):
            out[group].append("too few patients for an AUC: " + str(a["ours"]).split(": ", 1)[1])
        elif a is not None and pd.isna(a[["auc", "ci_low", "ci_high"]]).any():
            nan.append("AUC")
        elif a is not None and abs(a["auc"] - 0.5) <= CHANCE:
            ratings = adjudicated.loc[adjudicated["group"].astype(str) == group, "rating"]
            if ratings.nunique() == 1:
                out[group].append(f"AUC {a['auc']:.2f} from tied ratings (every patient rated {ratings.iloc[0]:g})")
        m = n["mcnemar"]
        if m is not None and not np.isfinite(m["p"]):
            nan.append("McNemar p")
        elif (
            m is not None and 0 < (pairs := int(m["a_only_correct"] + m["b_only_correct"])) and 2 * 0.5**pairs >= alpha
        ):
            noun = "pair" if pairs == 1 else "pairs"
            out[group].append(f"{pairs} discordant {noun} vs 1x: McNemar cannot reach p < {alpha:g}")
        if nan:
            out[group].append(f"NaN {', '.join(nan)}")
    signatures = {g: _signature(n) for g, n in numbers.items()}
    for group, sig in signatures.items():
        same = [g for g, s in signatures.items() if g != group and s == sig]
        if same:
            out[group].append(f"same numbers as {', '.join(same)}")
    return out


def _paper_proportion(group: str, i: int) -> str:
    pub = PUBLISHED_PERFORMANCE.get(group)
    return f"{pub[i][0] / pub[i][1]:.2f}" if pub else "—"


def key_findings(adjudicated: pd.DataFrame, t2, t3, auc, alpha: float = 0.05) -> pd.DataFrame:
    """One row per group (the paper's seven first, each shown even if not read here, then the
    others in display order): accuracy, sensitivity, specificity and AUC with 95 % CI, McNemar p
    of accuracy vs 1x, the paper's value beside each ('—' where it has none), and the flags."""
    numbers, flagged = _numbers(t2, t3, auc), flags(adjudicated, t2, t3, auc, alpha)
    groups = list(PAPER_GROUPS) + [g for g in numbers if g not in PAPER_GROUPS]
    rows = []
    for group in groups:
        n = numbers.get(group)
        row = {"group": group}
        for i, measure in enumerate(MEASURES):
            ours = interval(n[measure]["estimate"], n[measure]["ci_low"], n[measure]["ci_high"]) if n else "not read"
            row.update({measure: ours, f"paper_{measure}": _paper_proportion(group, i)})
        a = n["auc"] if n else None
        row["auc"] = interval(a["auc"], a["ci_low"], a["ci_high"]) if a is not None else "—"
        row["paper_auc"] = published_auc(group)
        m = n["mcnemar"] if n else None
        row["p"] = p_text(m["p"], named=False) if m is not None else "—"
        pub = PUBLISHED_MCNEMAR.get((group, STANDARD))
        row["paper_p"] = p_text(pub[0], named=False) if pub else "—"
        row["flag"] = "; ".join(flagged.get(group, []))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS)).rename(columns=COLUMNS)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _figures(n: dict, with_p: bool = True) -> str:
    a, m = n["auc"], n["mcnemar"]
    auc = f"AUC {a['auc']:.2f}" if a is not None and np.isfinite(a["auc"]) else "AUC not available"
    p = f", McNemar {p_text(m['p'])}" if with_p and m is not None else ""
    return f"accuracy {n['accuracy']['estimate']:.2f}, {auc}{p}"


def _versus_1x(speed: float, numbers: dict, flagged: dict, alpha: float) -> str:
    head = f"{speed:g}x vs 1x"
    groups = [g for g in numbers if g != STANDARD and parse_group(g)[0] == speed and (is_raw(g) or is_model(g))]
    if STANDARD not in numbers:
        return f"{head}: not compared — no 1x reads in this run."
    if not groups:
        return f"{head}: no {speed:g}x images were read in this run."
    ref = numbers[STANDARD]["accuracy"]["estimate"]
    verdicts: dict[str, list[str]] = {}
    for g in groups:
        p = numbers[g]["mcnemar"]["p"] if numbers[g]["mcnemar"] is not None else np.nan
        verdict = (
            "not compared (no McNemar p)"
            if not np.isfinite(p)
            else "not significantly different from 1x in accuracy"
            if p >= alpha
            else "less accurate than 1x"
            if numbers[g]["accuracy"]["estimate"] < ref
            else "more accurate than 1x"
        )
        note = f"; flagged: {flagged[g][0]}" if flagged.get(g) else ""
        name = f"raw {g}" if is_raw(g) else g
        verdicts.setdefault(verdict, []).append(f"{name} ({_figures(numbers[g])}{note})")
    parts = [f"{_and(items)} {'was' if len(items) == 1 else 'were'} {v}" for v, items in verdicts.items()]
    return f"{head} (1x: {_figures(numbers[STANDARD], with_p=False)}): {'; '.join(parts)}."


def _enhanced_vs_raw(numbers: dict) -> str:
    head = "Enhanced vs raw at the same speed (point estimates)"
    parts = []
    for g in (g for g in numbers if is_model(g)):
        raw = next((r for r in numbers if is_raw(r) and parse_group(r)[0] == parse_group(g)[0]), None)
        if raw is None:
            parts.append(f"{g}: no raw scan at its speed to compare")
            continue
        acc = numbers[g]["accuracy"]["estimate"] - numbers[raw]["accuracy"]["estimate"]
        a, b = numbers[g]["auc"], numbers[raw]["auc"]
        auc = a["auc"] - b["auc"] if a is not None and b is not None else np.nan
        signs = {np.sign(d) for d in (acc, auc) if np.isfinite(d)} - {0.0}
        word = "mixed" if len(signs) > 1 else "higher" if signs == {1.0} else "lower" if signs else "the same"
        auc_text = f"{auc:+.2f}" if np.isfinite(auc) else "not available"
        parts.append(f"{g} vs raw {raw}: accuracy {acc:+.2f}, AUC {auc_text} ({word})")
    if not parts:
        return f"{head}: no enhanced images were read in this run."
    return f"{head}: {'; '.join(parts)}."


def sentences(t2, t3, auc, flagged: dict[str, list[str]], alpha: float = 0.05) -> list[str]:
    """Three sentences answering '2x vs 1x', '3x vs 1x' and 'enhanced vs raw' from the numbers."""
    numbers = _numbers(t2, t3, auc)
    return [
        _versus_1x(2.0, numbers, flagged, alpha),
        _versus_1x(3.0, numbers, flagged, alpha),
        _enhanced_vs_raw(numbers),
    ]


def findings_content(
    adjudicated, t2, t3, auc, *, reads, metrics, train, source: str, label: str, alpha: float = 0.05
) -> dict:
    """Everything the findings box shows: 'table' (`key_findings`, None without the reference
    standard), 'flags', 'sentences', 'departures' and the one-line 'headline'."""
    n_patients = adjudicated["study_id"].nunique()
    out = {"departures": departures(train, n_patients=n_patients, source=source, reads=reads, metrics=metrics)}
    if t2 is None or t3 is None or auc is None:
        line = f"Accuracy, sensitivity, specificity and AUC not computed — {NEEDS_REFERENCE} (a 0/1 label per patient)."
        return {**out, "table": None, "flags": {}, "sentences": [line], "headline": f"{line[:-1]}; {label}."}
    flagged = flags(adjudicated, t2, t3, auc, alpha)
    numbers = _numbers(t2, t3, auc)
    aucs = [
        f"{g} {numbers[g]['auc']['auc']:.2f}"
        for g in numbers
        if g in PAPER_GROUPS and numbers[g]["auc"] is not None and np.isfinite(numbers[g]["auc"]["auc"])
    ]
    n_flagged = sum(bool(v) for v in flagged.values())
    flagged_text = f"{n_flagged} group{'s' if n_flagged != 1 else ''} flagged" if n_flagged else "no flags"
    headline = f"AUC {', '.join(aucs) or 'not available'} ({label}; {flagged_text})."
    return {
        **out,
        "table": key_findings(adjudicated, t2, t3, auc, alpha),
        "flags": flagged,
        "sentences": sentences(t2, t3, auc, flagged, alpha),
        "headline": headline,
    }


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def findings_html(found: dict, label: str) -> str:
    """The findings box's HTML: the key table in a horizontally scrolling box (its first column,
    marked 'flag' on a flagged row, stays in view), the three sentences, the flags and the
    departures from the paper's method."""
    parts = [f'<p class="wbs-meta"><strong>Key findings</strong> — {html.escape(label)}</p>']
    table = found["table"]
    if table is not None:
        cells = table.map(html.escape)
        flagged_rows = cells["Flag"] != ""
        cells.loc[flagged_rows, "Images"] += ' <span class="wbs-flag">flag</span>'  # seen while the row scrolls
        cells["Flag"] = [f'<span class="wbs-flag">{f}</span>' if f else "" for f in cells["Flag"]]
        parts.append(f'<div class="wbs-scroll">{cells.to_html(index=False, escape=False, border=0)}</div>')
        parts.append(
            '<p class="wbs-meta">Wilson 95 % CI for proportions, DeLong 95 % CI for AUC, exact McNemar p of accuracy '
            "against 1x on the same patients; 'Paper' is Qi et al. 2024 beside each of ours.</p>"
        )
    parts.append(_list([html.escape(s) for s in found["sentences"]]))
    flagged = [
        f'<span class="wbs-flag">flag</span> {html.escape(g)}: {html.escape(f)}'
        for g, texts in found["flags"].items()
        for f in texts
    ]
    if table is not None:
        parts.append("<p><strong>Flags</strong></p>" + (_list(flagged) if flagged else "<p>No result flagged.</p>"))
    parts.append("<p><strong>Departures from the paper's method</strong></p>")
    parts.append(_list([html.escape(d) for d in found["departures"]]) if found["departures"] else "<p>none</p>")
    return "\n".join(parts)
