"""The flat public API (``siteclass.<name>``): the crawl functions resolve, and no subpackage hides them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_crawl_exports_name_the_crawling_functions() -> None:
    import siteclass.crawling.runner
    import siteclass.crawling.scrapyd.scheduler

    assert siteclass.crawl is siteclass.crawling.runner.crawl
    assert siteclass.crawl_on_scrapyd is siteclass.crawling.scrapyd.scheduler.crawl_on_scrapyd


def test_crawl_stays_a_function_after_its_package_is_imported(tmp_path: Path) -> None:
    """Importing ``siteclass.crawling.*`` (as ``siteclass.data.domains`` does) must not rebind ``siteclass.crawl``:
    a fresh interpreter, so no earlier test has already resolved the name."""
    missing = tmp_path / "missing.csv"
    code = textwrap.dedent(f"""
        import siteclass
        siteclass.build_dataset
        import siteclass.crawling.urls
        import siteclass.data.domains
        import siteclass.crawling.scrapyd
        assert callable(siteclass.crawl), type(siteclass.crawl)
        assert callable(siteclass.crawl_on_scrapyd), type(siteclass.crawl_on_scrapyd)
        try:
            siteclass.crawl({str(missing)!r}, {str(tmp_path / "out")!r})
        except siteclass.InputError as exc:
            print("InputError:", exc)
        else:
            raise SystemExit("no error for a missing sites file")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("InputError: ") and "missing.csv" in proc.stdout
