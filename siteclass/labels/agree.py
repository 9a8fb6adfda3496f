"""`siteclass labels agree`: judgements → consensus per item, agreement coefficients, labeller and group scores.

Outputs (docs/architecture.md, "Labels output"): ``consensus.csv``, ``agreement.json``, ``labellers.csv``,
``groups.csv``, ``confusion.png``, ``report.html`` and ``settings.toml`` in the output folder.

Consensus per item: ``single`` (one judgement), ``agreed`` (all judgements give one label), ``majority`` (one
label has more votes than any other), ``tie`` (two or more labels share the most votes: the label is the one
given by the best-ranked labeller among those who gave a tied label; the row stays ``tie``).
Labellers are ranked by gold accuracy (labellers with gold judgements first), then by leave-one-out agreement,
then by judgements, then by name; labellers.csv lists them in that order.

Leave-one-out agreement of a judgement: the labeller's own vote is removed and the plurality label(s) of the
other judgements on the item are taken; the judgement scores 1 if its label is the only plurality label, 1/k if
it is one of k tied plurality labels, 0 otherwise. Items with one judgement do not count (``agreement_n``).

All group-bys run in DuckDB over the Arrow table of judgements (bounded memory, spills to disk).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siteclass.config import LabelsSettings, save_settings
from siteclass.errors import InputError
from siteclass.labels.agreement import coefficients
from siteclass.labels.tables import Judgements, read_gold, read_judgements, row_name

STATUSES = ("agreed", "majority", "tie", "single")


@dataclass
class AgreeResult:
    out: Path
    files: dict[str, Path]
    agreement: dict[str, Any]
    statuses: dict[str, int] = field(default_factory=dict)


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class LabelAgreement:
    """Consensus, agreement and labeller scores of one judgements file (optionally against gold labels)."""

    def __init__(self, max_seconds: float | None, tie_items: int, memory_limit_mb: int, threads: int,
                 confusion_labels: int) -> None:
        self.max_seconds = max_seconds
        self.tie_items = tie_items
        self.memory_limit_mb = memory_limit_mb
        self.threads = threads
        self.confusion_labels = confusion_labels

    @classmethod
    def from_settings(cls, settings: LabelsSettings) -> LabelAgreement:
        return cls(settings.max_seconds, settings.tie_items, settings.memory_limit_mb, settings.threads,
                   settings.confusion_labels)

    # ------------------------------------------------------------------ checks
    def _connect(self) -> Any:
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{int(self.memory_limit_mb)}MB'")
        if self.threads:
            con.execute(f"SET threads TO {int(self.threads)}")
        return con

    @staticmethod
    def _check_repeats(con: Any, path: str) -> None:
        con.execute("""CREATE TEMP TABLE repeats AS SELECT item, labeller FROM j
                       GROUP BY item, labeller HAVING count(*) > 1""")
        row = con.execute("""
            SELECT item, labeller, rows[1], rows[2], count(*) OVER () FROM (
                SELECT j.item, j.labeller, list(row_no ORDER BY row_no) AS rows FROM j
                JOIN repeats r ON r.item = j.item AND r.labeller = j.labeller GROUP BY j.item, j.labeller)
            ORDER BY rows[2] LIMIT 1""").fetchone()
        if row is not None:
            item, labeller, a, b, pairs = row
            more = f"; {pairs} (item, labeller) pairs repeat in all" if pairs > 1 else ""
            raise InputError(f"{path}: item {item!r} was judged twice by labeller {labeller!r} "
                             f"({row_name(path, a)} and {row_name(path, b)}{more}); keep one judgement per item and "
                             f"labeller, e.g. drop duplicates on (item, labeller) keeping the latest")

    @staticmethod
    def _check_groups(con: Any, path: str) -> None:
        row = con.execute("""SELECT labeller, min(grp), max(grp) FROM j GROUP BY labeller
                             HAVING count(DISTINCT grp) > 1 ORDER BY labeller LIMIT 1""").fetchone()
        if row is not None:
            raise InputError(f"{path}: labeller {row[0]!r} is in two groups ({row[1]!r} and {row[2]!r}); give each "
                             f"labeller one group (or leave 'group' empty for the labeller's own)")

    # ------------------------------------------------------------------ tables
    @staticmethod
    def _consensus(con: Any, has_gold: bool) -> None:
        con.execute("CREATE TABLE votes AS SELECT item, label, count(*) AS v FROM j GROUP BY item, label")
        con.execute("""CREATE TABLE ranked AS SELECT item, label, v,
                       dense_rank() OVER (PARTITION BY item ORDER BY v DESC) AS dr FROM votes""")
        con.execute("""CREATE TABLE items AS SELECT item, sum(v) AS n, count(*) AS n_labels,
                           max(v) FILTER (WHERE dr = 1) AS v1, count(*) FILTER (WHERE dr = 1) AS c1,
                           coalesce(max(v) FILTER (WHERE dr = 2), 0) AS v2, count(*) FILTER (WHERE dr = 2) AS c2,
                           min(label) FILTER (WHERE dr = 1) AS top_label
                       FROM ranked GROUP BY item""")
        gold = "LEFT JOIN gold g ON g.item = j.item" if has_gold else ""
        con.execute(f"""CREATE TABLE scored AS SELECT j.item, j.labeller, j.grp, j.seconds, j.label,
                           {'g.label' if has_gold else 'NULL::VARCHAR'} AS gold,
                           CASE WHEN i.n < 2 THEN NULL
                                WHEN vo.v = i.v1 AND i.c1 = 1 THEN CASE WHEN i.v1 - 1 > i.v2 THEN 1.0
                                    WHEN i.v1 - 1 = i.v2 THEN 1.0 / (1 + i.c2) ELSE 0.0 END
                                ELSE 0.0 END AS agree
                       FROM j JOIN votes vo ON vo.item = j.item AND vo.label = j.label
                       JOIN items i ON i.item = j.item {gold}""")
        con.execute("""CREATE TABLE labellers AS SELECT labeller, any_value(grp) AS grp, count(*) AS judgements,
                           avg(agree) AS agreement, count(agree) AS agreement_n,
                           avg((label = gold)::INTEGER) AS gold_accuracy, count(gold) AS gold_n,
                           median(seconds) AS median_seconds
                       FROM scored GROUP BY labeller""")
        con.execute("""CREATE TABLE lrank AS SELECT labeller, row_number() OVER (ORDER BY gold_accuracy DESC NULLS LAST,
                           agreement DESC NULLS LAST, judgements DESC, labeller) AS rank FROM labellers""")
        con.execute("""CREATE TABLE tie_pick AS SELECT r.item, arg_min(j.label, lr.rank) AS label,
                           arg_min(j.labeller, lr.rank) AS decided_by
                       FROM ranked r JOIN items i ON i.item = r.item AND i.c1 > 1
                       JOIN j ON j.item = r.item AND j.label = r.label JOIN lrank lr ON lr.labeller = j.labeller
                       WHERE r.dr = 1 GROUP BY r.item""")
        con.execute(f"""CREATE TABLE consensus AS SELECT i.item,
                           CASE WHEN i.c1 > 1 THEN t.label ELSE i.top_label END AS label,
                           i.v1 AS votes, i.n AS judgements, i.v1 / i.n AS share,
                           CASE WHEN i.n = 1 THEN 'single' WHEN i.n_labels = 1 THEN 'agreed'
                                WHEN i.c1 = 1 THEN 'majority' ELSE 'tie' END AS status,
                           t.decided_by, {'g.label' if has_gold else 'NULL::VARCHAR'} AS gold
                       FROM items i LEFT JOIN tie_pick t ON t.item = i.item
                       {'LEFT JOIN gold g ON g.item = i.item' if has_gold else ''}""")

    def _write_tables(self, con: Any, out: Path, has_gold: bool) -> dict[str, Path]:
        files = {"consensus": out / "consensus.csv", "labellers": out / "labellers.csv", "groups": out / "groups.csv"}
        gold_col = ", gold" if has_gold else ""
        con.execute(f"""COPY (SELECT item, label, votes, judgements, round(share, 4) AS share, status{gold_col}
                              FROM consensus ORDER BY item) TO {_sql_path(files['consensus'])} (HEADER)""")
        gold_cols = ", round(gold_accuracy, 4) AS gold_accuracy, gold_n" if has_gold else ""
        con.execute(f"""COPY (SELECT l.labeller, l.grp AS "group", judgements,
                                     round(agreement, 4) AS agreement_with_consensus, agreement_n{gold_cols},
                                     median_seconds
                              FROM labellers l JOIN lrank USING (labeller) ORDER BY lrank.rank)
                        TO {_sql_path(files['labellers'])} (HEADER)""")
        within = ""
        if self.max_seconds is not None:
            within = f", median_seconds <= {float(self.max_seconds)!r} AS within_max_seconds"
        gold_groups = ", round(gold_accuracy, 4) AS gold_accuracy, gold_n" if has_gold else ""
        con.execute("""CREATE TABLE groups AS SELECT grp, count(DISTINCT labeller) AS labellers,
                            count(*) AS judgements, avg(agree) AS agreement, count(agree) AS agreement_n,
                            avg((label = gold)::INTEGER) AS gold_accuracy, count(gold) AS gold_n,
                            median(seconds) AS median_seconds
                        FROM scored GROUP BY grp""")
        con.execute(f"""COPY (SELECT grp AS "group", labellers, judgements,
                                     round(agreement, 4) AS agreement_with_consensus, agreement_n{gold_groups},
                                     median_seconds{within}
                              FROM groups ORDER BY gold_accuracy DESC NULLS LAST, agreement DESC NULLS LAST, grp)
                        TO {_sql_path(files['groups'])} (HEADER)""")
        return files

    @staticmethod
    def _counts(con: Any, judgements: Judgements, gold_rows: int | None) -> dict[str, Any]:
        n_items, n_labellers, n_groups, n_labels = con.execute(
            "SELECT count(DISTINCT item), count(DISTINCT labeller), count(DISTINCT grp), count(DISTINCT label) "
            "FROM j").fetchone()
        statuses = dict(con.execute("SELECT status, count(*) FROM consensus GROUP BY status").fetchall())
        per_item = con.execute("SELECT n, count(*) FROM items GROUP BY n ORDER BY n").fetchall()
        counts: dict[str, Any] = {
            "judgements": judgements.n, "items": int(n_items), "labellers": int(n_labellers),
            "groups": int(n_groups), "labels": int(n_labels),
            "statuses": {s: int(statuses.get(s, 0)) for s in STATUSES},
            "items_by_judgements": {str(n): int(c) for n, c in per_item},
            "judgements_in_single_items": int(statuses.get("single", 0)),
            "judgements_with_seconds": int(con.execute("SELECT count(seconds) FROM j").fetchone()[0]),
        }
        if gold_rows is not None:
            judged, correct, on_gold = con.execute(
                "SELECT count(gold), sum((label = gold)::INTEGER), "
                "(SELECT count(gold) FROM scored) FROM consensus").fetchone()
            counts["gold"] = {"items": gold_rows, "items_judged": int(judged),
                              "items_not_judged": gold_rows - int(judged), "judgements_on_gold": int(on_gold),
                              "consensus_accuracy": (int(correct) / int(judged)) if judged else None}
        return counts

    # ------------------------------------------------------------------ run
    def run(self, judgements: str | Path, out: str | Path, gold: str | Path | None = None) -> AgreeResult:
        """Write the outputs in *out*; InputError (after writing them) when agreement is undefined."""
        from siteclass.labels.report import write_report

        jd = read_judgements(judgements)
        if self.max_seconds is not None and not jd.has_seconds:
            raise InputError(f"--max-seconds needs a 'seconds' column in {judgements} (time spent per judgement); "
                             f"add it or drop --max-seconds")
        gold_table = read_gold(gold) if gold is not None else None
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        try:
            con.register("j_arrow", jd.table)
            con.execute('CREATE VIEW j AS SELECT item, labeller, label, seconds, "group" AS grp, row_no FROM j_arrow')
            if gold_table is not None:
                con.register("gold", gold_table)
            self._check_repeats(con, jd.path)
            self._check_groups(con, jd.path)
            self._consensus(con, gold_table is not None)
            files = self._write_tables(con, out, gold_table is not None)
            agreement = {"judgements_file": str(judgements), "gold_file": str(gold) if gold else None,
                         **coefficients(con),
                         "counts": self._counts(con, jd, gold_table.num_rows if gold_table is not None else None)}
            files["agreement"] = out / "agreement.json"
            files["agreement"].write_text(json.dumps(agreement, indent=2, ensure_ascii=False), encoding="utf-8")
            files.update(write_report(con, out, agreement, self.tie_items, self.confusion_labels,
                                      gold_table is not None, self.max_seconds))
        finally:
            con.close()
        save_settings(LabelsSettings(max_seconds=self.max_seconds, tie_items=self.tie_items,
                                     memory_limit_mb=self.memory_limit_mb, threads=self.threads,
                                     confusion_labels=self.confusion_labels), out, section="labels")
        result = AgreeResult(out, files, agreement, dict(agreement["counts"]["statuses"]))
        counts = agreement["counts"]
        if counts["labellers"] < 2:
            raise InputError(f"{judgements} has judgements from one labeller only: agreement is undefined; "
                             f"{out}/consensus.csv was written (every item 'single'); add a second labeller's "
                             f"judgements on the same items")
        if agreement["alpha_items"] == 0:
            raise InputError(f"no item in {judgements} was judged by two labellers: agreement is undefined; "
                             f"{out}/consensus.csv was written (every item 'single'); have two labellers judge "
                             f"the same items")
        return result


def agree_labels(judgements: str | Path, out: str | Path, gold: str | Path | None = None,
                 settings: LabelsSettings | None = None, **overrides: Any) -> AgreeResult:
    """Consensus, agreement and labeller scores of *judgements* into *out*; keyword overrides are
    LabelsSettings fields (``max_seconds=30``)."""
    from siteclass.labels.settings import labels_settings

    return LabelAgreement.from_settings(labels_settings(settings, **overrides)).run(judgements, out, gold)
