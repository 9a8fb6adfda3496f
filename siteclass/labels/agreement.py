"""Agreement coefficients of nominal judgements, computed from vote counts by DuckDB group-bys.

Input: a DuckDB table ``votes(item, label, v)`` (judgements per item and label) and ``items(item, n)``
(judgements per item). No item × label matrix is built, so memory follows the number of distinct (item, label)
pairs, not items × labels.

- Fleiss' kappa: on the items that have the modal number of judgements m (m ≥ 2), as Fleiss defines it for a
  fixed number of raters per item: P_i = (Σ_j n_ij² − m) / (m(m − 1)), P̄ = mean P_i, p_j = Σ_i n_ij / (N m),
  P_e = Σ p_j², κ = (P̄ − P_e) / (1 − P_e).
- Krippendorff's alpha (nominal): every item with at least two judgements (pairable values), any number each:
  A_o = Σ_i Σ_c n_ic(n_ic − 1)/(n_i − 1) / n, A_e = Σ_c n_c(n_c − 1) / (n(n − 1)), α = (A_o − A_e)/(1 − A_e).
- Observed agreement: mean over items with at least two judgements of the share of agreeing judgement pairs.
- Per label, specific agreement: of the judgement pairs that involve the label, the share where both gave it.

A coefficient whose expected agreement is 1 (one label only) is undefined: None, with a note saying why.
"""

from __future__ import annotations

from typing import Any


def _one(con: Any, sql: str) -> tuple[Any, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


def fleiss_kappa(con: Any) -> dict[str, Any]:
    """Fleiss' kappa over the items with the modal number of judgements (≥ 2)."""
    mode = con.execute("""SELECT n, count(*) AS c FROM items WHERE n >= 2 GROUP BY n
                          ORDER BY c DESC, n DESC LIMIT 1""").fetchone()
    if mode is None:
        return {"fleiss_kappa": None, "fleiss_items": 0, "fleiss_judgements_per_item": None}
    m = int(mode[0])
    n_items, p_bar = _one(con, f"""
        SELECT count(*), avg(p) FROM (
            SELECT (sum(v * v) - {m}) / ({m} * ({m} - 1))::DOUBLE AS p
            FROM votes JOIN items USING (item) WHERE items.n = {m} GROUP BY item)""")
    (p_e,) = _one(con, f"""
        SELECT sum(pj * pj) FROM (
            SELECT sum(v)::DOUBLE / ({int(n_items)} * {m}) AS pj
            FROM votes JOIN items USING (item) WHERE items.n = {m} GROUP BY label)""")
    kappa = None if p_e is None or p_e >= 1.0 - 1e-12 else (p_bar - p_e) / (1.0 - p_e)
    return {"fleiss_kappa": kappa, "fleiss_items": int(n_items), "fleiss_judgements_per_item": m,
            "fleiss_observed": p_bar, "fleiss_expected": p_e}


def krippendorff_alpha(con: Any) -> dict[str, Any]:
    """Krippendorff's alpha, nominal, over every item with at least two judgements."""
    n_total, n_items, a_num = _one(con, """
        SELECT sum(n), count(*), sum(agree) FROM (
            SELECT any_value(items.n) AS n, sum(v * (v - 1))::DOUBLE / (any_value(items.n) - 1) AS agree
            FROM votes JOIN items USING (item) WHERE items.n >= 2 GROUP BY item)""")
    if not n_total:
        return {"krippendorff_alpha": None, "alpha_items": 0, "alpha_judgements": 0}
    n_total = int(n_total)
    (e_num,) = _one(con, """
        SELECT sum(nc * (nc - 1))::DOUBLE FROM (
            SELECT sum(v) AS nc FROM votes JOIN items USING (item) WHERE items.n >= 2 GROUP BY label)""")
    a_o = a_num / n_total
    a_e = e_num / (n_total * (n_total - 1))
    alpha = None if a_e >= 1.0 - 1e-12 else (a_o - a_e) / (1.0 - a_e)
    return {"krippendorff_alpha": alpha, "alpha_items": int(n_items), "alpha_judgements": n_total,
            "alpha_observed": a_o, "alpha_expected": a_e}


def observed_agreement(con: Any) -> float | None:
    """Mean over items with ≥ 2 judgements of the share of judgement pairs that agree."""
    (value,) = _one(con, """
        SELECT avg(p) FROM (
            SELECT sum(v * (v - 1))::DOUBLE / (any_value(items.n) * (any_value(items.n) - 1)) AS p
            FROM votes JOIN items USING (item) WHERE items.n >= 2 GROUP BY item)""")
    return None if value is None else float(value)


def per_label(con: Any) -> dict[str, dict[str, Any]]:
    """Per label: judgements, consensus items, and specific agreement (None where no pair involves it)."""
    rows = con.execute("""
        SELECT label, sum(v) AS judgements,
               sum(v * (v - 1)) FILTER (WHERE items.n >= 2) AS agree_pairs,
               sum(v * (items.n - 1)) FILTER (WHERE items.n >= 2) AS pairs
        FROM votes JOIN items USING (item) GROUP BY label ORDER BY label""").fetchall()
    chosen = dict(con.execute("SELECT label, count(*) FROM consensus GROUP BY label").fetchall())
    return {str(label): {"judgements": int(j), "consensus_items": int(chosen.get(label, 0)),
                         "specific_agreement": (float(a) / float(p)) if p else None}
            for label, j, a, p in rows}


def coefficients(con: Any) -> dict[str, Any]:
    """Everything agreement.json says about agreement, with notes on the undefined values."""
    out: dict[str, Any] = {}
    out.update(fleiss_kappa(con))
    out.update(krippendorff_alpha(con))
    out["observed_agreement"] = observed_agreement(con)
    notes: list[str] = []
    if out["alpha_items"] == 0:
        notes.append("no item has two judgements: agreement is undefined")
    else:
        if out["fleiss_kappa"] is None:
            notes.append("Fleiss' kappa is undefined: every judgement on its items gives the same label")
        if out["krippendorff_alpha"] is None:
            notes.append("Krippendorff's alpha is undefined: every pairable judgement gives the same label")
    out["notes"] = notes
    out["per_label"] = per_label(con)
    return out
