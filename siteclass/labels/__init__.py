"""The labelling loop: judgements → consensus and labeller scores (`agree`), the sites most worth labelling next
(`queue`), and overrides that fix a site's answer by hand (`overrides`).

    siteclass.agree_labels("judgements.csv", "agree/", gold="gold.csv")      # consensus.csv, agreement.json, …
    siteclass.label_queue("predictions.parquet", "queue.csv", budget=500)   # margin / entropy / diverse
    siteclass.load_overrides("overrides.csv").lookup(url="https://www.acme.com/about")
"""

from __future__ import annotations
