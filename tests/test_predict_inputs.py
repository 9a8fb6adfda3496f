"""siteclass predict without a crawl: --table (CSV/Parquet/JSONL), --html (files, folders, globs, broken files),
--keep and --url-column, --labels (your taxonomy, zero-shot), and the non_english_text warning — all through the
real CLI (``siteclass.cli.run``) on real files, with a small `linear` model trained here."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siteclass.cli import run
from siteclass.models.linear import LinearClassifier
from siteclass.prediction.schema import PREDICTION_SCHEMA

TRAIN = {
    "plumbing": ["we fix pipes drains and leaks", "emergency plumber for boilers pipes and water heaters",
                 "drain cleaning pipe repair plumbing", "leaking taps and blocked drains fixed by our plumbers"],
    "bakery": ["fresh bread cakes and pastries baked daily", "our bakery bakes sourdough bread and croissants",
               "birthday cakes cookies pastries", "bread rolls cakes and coffee from the bakery"],
    "law": ["attorneys at law practice areas litigation", "our lawyers handle contracts disputes and estates",
            "legal advice law firm attorneys", "lawyers for contracts litigation and estates"],
}
GERMAN = "Wir sind eine Bäckerei in Berlin und backen jeden Tag frisches Brot und Kuchen für unsere Kunden."
FRENCH = "Nous sommes un cabinet d'avocats spécialisé dans le droit des affaires et le droit du travail."


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X = [{"text": t} for texts in TRAIN.values() for t in texts]
    y = [label for label, texts in TRAIN.items() for _ in texts]
    folder = tmp_path_factory.mktemp("model") / "linear"
    LinearClassifier().fit(X, y).save(folder)
    return folder


def _predict(*args: str | Path) -> int:
    return run(["predict", *map(str, args), "--no-progress"])


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


FIRMS = [
    {"firm_id": "007", "company": "Pipe Pros", "about": "we fix pipes and blocked drains", "sector_code": 23},
    {"firm_id": "008", "company": "Crumbs", "about": "fresh bread and birthday cakes", "sector_code": 31},
    {"firm_id": "009", "company": "Smith & Co", "about": "", "sector_code": 54},
    {"firm_id": "010", "company": "Müller Backstube", "about": GERMAN, "sector_code": 31},
    {"firm_id": "011", "company": "Cabinet Durand", "about": FRENCH, "sector_code": 54},
]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_table_is_classified_row_by_row_keeping_id_name_and_kept_columns(tmp_path: Path, model_dir: Path,
                                                                          fmt: str) -> None:
    path = tmp_path / f"firms.{fmt}"
    table = pa.Table.from_pylist(FIRMS)
    if fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
    elif fmt == "parquet":
        pq.write_table(table, path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in FIRMS), encoding="utf-8")
    out = tmp_path / "pred.parquet"
    assert _predict("--table", path, "--text", "company,about", "--id", "firm_id", "--name", "company",
                    "--keep", "sector_code", "--model", model_dir, "--batch-size", "2", "--out", out) == 0
    written = pq.read_table(out)
    assert written.schema.names == [*PREDICTION_SCHEMA.names, "sector_code"]
    rows = written.to_pylist()
    assert [r["site_id"] for r in rows] == ["007", "008", "009", "010", "011"]  # a CSV id keeps its leading zeros
    assert [r["name"] for r in rows] == [f["company"] for f in FIRMS]
    assert [str(r["sector_code"]) for r in rows] == ["23", "31", "54", "31", "54"]  # CSV cells stay text
    assert [r["label"] for r in rows[:2]] == ["plumbing", "bakery"]
    assert rows[2]["status"] == "ok" and rows[2]["label"] is not None  # the name alone is text
    assert all(r["source"] == "model" for r in rows)
    assert [r["warning"] for r in rows] == [None, None, None, "non_english_text", "non_english_text"]


def test_a_table_without_an_id_column_keeps_row_numbers_and_empty_rows_are_reported(tmp_path: Path,
                                                                                     model_dir: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("description,city\nwe fix pipes and drains,Leeds\n,York\nbread and cakes,Hull\n",
                    encoding="utf-8")
    out = tmp_path / "p.parquet"
    assert _predict("--table", path, "--text", "description", "--keep", "city", "--model", model_dir,
                    "--out", out) == 0
    rows = _rows(out)
    assert [(r["site_id"], r["city"], r["status"]) for r in rows] == [("1", "Leeds", "ok"), ("2", "York", "empty"),
                                                                      ("3", "Hull", "ok")]
    assert rows[1]["label"] is None and rows[1]["labels"] == [] and rows[1]["source"] is None
    assert rows[0]["label"] == "plumbing" and rows[2]["label"] == "bakery"


def test_a_table_streams_in_batches_across_reader_chunks(tmp_path: Path, model_dir: Path) -> None:
    n = 9000  # more than one reader batch (4096 rows) and many model batches
    texts = ["we fix pipes and drains", "fresh bread and cakes", "lawyers for contracts"]
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"text": [texts[i % 3] for i in range(n)], "ref": list(range(n))}), path)
    out = tmp_path / "p.parquet"
    assert _predict("--table", path, "--text", "text", "--keep", "ref", "--model", model_dir, "--out", out) == 0
    table = pq.read_table(out)
    assert table.num_rows == n and table.column("ref").to_pylist() == list(range(n))
    assert table.column("site_id").to_pylist()[-1] == str(n)
    assert table.column("label").to_pylist()[:3] == ["plumbing", "bakery", "law"]


def _page(title: str, body: str, lang: str = "en") -> str:
    return f"<!doctype html><html lang='{lang}'><head><title>{title}</title></head><body><main><h1>{title}</h1>" \
           f"<p>{body}</p></main></body></html>"


def test_html_files_and_folders_of_pages_through_the_crawls_extraction(tmp_path: Path, model_dir: Path) -> None:
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "pipes.html").write_text(_page("Pipe Pros", "We fix pipes, drains and leaks. Emergency plumber."),
                                      encoding="utf-8")
    site = saved / "crumbs.example.com"  # a folder named like a host: one site, its pages
    (site / "about").mkdir(parents=True)
    (site / "about" / "team.html").write_text(_page("Team", "Our bakers"), encoding="utf-8")
    (site / "a-menu.html").write_text(_page("Menu", "Sourdough bread, croissants, cakes and pastries"),
                                      encoding="utf-8")
    (site / "index.html").write_text(_page("Crumbs", "Fresh bread and cakes baked daily"), encoding="utf-8")
    (site / "style.css").write_text("body { color: red }", encoding="utf-8")  # not a page: ignored
    (saved / "broken.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (saved / "blank.html").write_bytes(b"")
    (saved / "german.html").write_text(_page("Bäckerei Müller", GERMAN, lang="de"), encoding="utf-8")
    (saved / ".DS_Store").write_bytes(b"\x00\x01")
    out = tmp_path / "p.parquet"
    assert _predict("--html", saved, "--model", model_dir, "--out", out) == 0
    rows = {Path(r["site_id"]).name: r for r in _rows(out)}
    assert list(rows) == ["blank.html", "broken.html", "crumbs.example.com", "german.html", "pipes.html"]
    assert rows["pipes.html"]["label"] == "plumbing" and rows["pipes.html"]["status"] == "ok"
    assert rows["crumbs.example.com"]["label"] == "bakery"
    assert (rows["broken.html"]["status"], rows["broken.html"]["label"]) == ("not_html", None)
    assert (rows["blank.html"]["status"], rows["blank.html"]["label"]) == ("empty", None)
    assert rows["german.html"]["warning"] == "non_english_text" and rows["pipes.html"]["warning"] is None

    from siteclass.prediction.inputs import HtmlInput

    # a folder's pages: index.html first, then by path (sub-folders included), assets left out
    folder_site = next(p for s, p in HtmlInput(saved).sites() if s["site_id"].endswith("crumbs.example.com"))
    assert [Path(p["url"]).name for p in folder_site] == ["index.html", "a-menu.html", "team.html"]
    # the folder named like a host gives the model its domain
    site_row = next(s for s, _ in HtmlInput(saved).sites() if s["site_id"].endswith("crumbs.example.com"))
    assert site_row["record"]["domain"] == "example.com"


def test_html_glob_and_single_file(tmp_path: Path, model_dir: Path) -> None:
    for name, body in (("a.htm", "drain cleaning and pipe repair"), ("b.htm", "legal advice from attorneys")):
        (tmp_path / name).write_text(_page(name, body), encoding="utf-8")
    out = tmp_path / "p.parquet"
    assert _predict("--html", str(tmp_path / "*.htm"), "--model", model_dir, "--out", out) == 0
    assert [r["label"] for r in _rows(out)] == ["plumbing", "law"]
    assert _predict("--html", tmp_path / "b.htm", "--model", model_dir, "--out", out) == 0
    assert [(r["site_id"], r["url"], r["label"]) for r in _rows(out)] == [(str(tmp_path / "b.htm"),
                                                                          str(tmp_path / "b.htm"), "law")]


def test_bad_inputs_are_one_line_naming_file_and_column(tmp_path: Path, model_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "t.csv"
    table.write_text("id,description\n1,pipes\n", encoding="utf-8")
    out = tmp_path / "p.parquet"

    def fails(*args: str | Path) -> str:
        capsys.readouterr()
        assert _predict(*args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
        return err

    err = fails("--table", table, "--text", "about", "--model", model_dir, "--out", out)
    assert "'about'" in err and str(table) in err and "description" in err
    err = fails("--table", table, "--text", "description", "--keep", "city", "--model", model_dir, "--out", out)
    assert "'city'" in err and str(table) in err
    err = fails("--table", table, "--text", "description", "--keep", "label", "--model", model_dir, "--out", out)
    assert "label" in err
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert str(empty) in fails("--table", empty, "--text", "description", "--model", model_dir, "--out", out)
    header_only = tmp_path / "header.csv"
    header_only.write_text("description\n", encoding="utf-8")
    err = fails("--table", header_only, "--text", "description", "--model", model_dir, "--out", out)
    assert str(header_only) in err and "no rows" in err
    odd = tmp_path / "t.xlsx"
    odd.write_bytes(b"PK\x03\x04")
    assert "unknown table format" in fails("--table", odd, "--text", "description", "--model", model_dir,
                                           "--out", out)
    assert "--text" in fails("--table", table, "--model", model_dir, "--out", out)
    assert "matches no file" in fails("--html", str(tmp_path / "*.nothing"), "--model", model_dir, "--out", out)
    assert "does not exist" in fails("--html", tmp_path / "missing", "--model", model_dir, "--out", out)
    assert not out.exists()


def test_sites_keep_columns_and_url_column_without_crawling(tmp_path: Path, model_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--url-column reads the URL from another column; --keep adds the sites file's columns (by site id)."""
    from siteclass.crawling.runner import read_sites
    from siteclass.prediction.inputs import sites_kept

    sites = tmp_path / "sites.csv"
    sites.write_text("id,Website,name,owner\n007,acme.com,Acme,ann\n008,not a url,Bad,bob\n", encoding="utf-8")
    read = read_sites(sites, "website")
    assert [(s.site_id, s.name, s.url, bool(s.error)) for s in read] == [("007", "Acme", "http://acme.com/", False),
                                                                         ("008", "Bad", "", True)]
    as_parquet = tmp_path / "sites.parquet"  # a column named url besides the URL column is not the URL
    pq.write_table(pa.table({"url": ["x"], "Website": ["acme.com"], "id": ["7"]}), as_parquet)
    assert [(s.site_id, s.url) for s in read_sites(as_parquet, "website")] == [("7", "http://acme.com/")]
    kept = sites_kept(sites, ["owner"])
    assert kept.by_id == {"007": {"owner": "ann"}, "008": {"owner": "bob"}}
    capsys.readouterr()
    assert run(["crawl", str(sites), "--out", str(tmp_path / "c"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "'url'" in err and "--url-column" in err
    assert _predict("--sites", sites, "--keep", "phone", "--model", model_dir, "--out", tmp_path / "p.parquet") == 2
    assert "'phone'" in capsys.readouterr().err


def test_sites_file_with_url_column_and_keep_is_crawled_and_keeps_id_name_and_columns(
        tmp_path: Path, model_dir: Path) -> None:
    """A real crawl (an unreachable port: no network needed): every input row is a prediction row with its id,
    name and kept columns, whatever happened to the site."""
    sites = tmp_path / "sites.csv"
    sites.write_text("Homepage,name,owner\nhttp://127.0.0.1:9/,Nobody,ann\nnot a url,Bad,bob\n", encoding="utf-8")
    out = tmp_path / "p.parquet"
    assert _predict("--sites", sites, "--url-column", "Homepage", "--keep", "owner", "--model", model_dir,
                    "--out", out) == 0
    rows = _rows(out)
    assert [(r["site_id"], r["name"], r["owner"]) for r in rows] == [("1", "Nobody", "ann"), ("2", "Bad", "bob")]
    assert rows[1]["status"] == "invalid_input" and rows[0]["status"] != "ok"


def test_labels_and_model_together_are_refused(tmp_path: Path, model_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    taxonomy = tmp_path / "labels.csv"
    taxonomy.write_text("label\nA\nB\n", encoding="utf-8")
    table = tmp_path / "t.csv"
    table.write_text("d\nx\n", encoding="utf-8")
    capsys.readouterr()
    assert _predict("--table", table, "--text", "d", "--labels", taxonomy, "--model", model_dir,
                    "--out", tmp_path / "p.parquet") == 2
    assert "--labels" in capsys.readouterr().err


@pytest.mark.slow
def test_your_own_taxonomy_zero_shot_with_and_without_descriptions(tmp_path: Path) -> None:
    """--labels: the bundled encoder against a CSV of labels, no dataset and no training (loads MiniLM once)."""
    table = tmp_path / "firms.csv"
    table.write_text(
        "id,about\n"
        'a,"Family dentistry: teeth cleaning, fillings and implants for the whole family."\n'
        'b,"Emergency plumber: we repair burst pipes, blocked drains and boilers 24/7."\n'
        'c,"Our bakery bakes sourdough bread, croissants and birthday cakes every morning."\n'
        f'd,"{GERMAN}"\n', encoding="utf-8")
    described = tmp_path / "described.csv"
    described.write_text("label,description\n"
                         'Dentist,"dental clinic: teeth, dentistry, oral health"\n'
                         'Plumber,"plumbing: pipes, drains, boilers, leaks"\n'
                         'Bakery,"bakery: bread, cakes, pastries"\n', encoding="utf-8")
    bare = tmp_path / "bare.csv"
    bare.write_text("label\nDentist\nPlumber\nBakery\n", encoding="utf-8")
    for taxonomy in (described, bare):
        out = tmp_path / f"{taxonomy.stem}.parquet"
        assert _predict("--table", table, "--text", "about", "--id", "id", "--labels", taxonomy, "--out", out) == 0
        rows = _rows(out)
        assert [r["site_id"] for r in rows] == ["a", "b", "c", "d"]
        assert [r["label"] for r in rows[:3]] == ["Dentist", "Plumber", "Bakery"], taxonomy.name
        assert {lab for r in rows for lab in r["labels"]} <= {"Dentist", "Plumber", "Bakery"}
        assert [r["warning"] for r in rows] == [None, None, None, "non_english_text"]


def test_a_crawl_warns_by_the_pages_declared_language(tmp_path: Path, model_dir: Path) -> None:
    """Crawled pages carry their <html lang>: it decides when present; text is detected only without one."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "serve"))
    import serve_models

    crawl = tmp_path / "crawl"
    serve_models.write_crawl(crawl, 4, failed_every=0)
    pages = pq.read_table(crawl / "pages.parquet").to_pylist()
    sites = sorted({p["site_id"] for p in pages})
    for p in pages:
        if p["site_id"] == sites[0]:
            p["lang"] = "de-DE"  # declared German: a warning, whatever the text
        elif p["site_id"] == sites[1]:
            p["lang"], p["text"] = "", GERMAN  # nothing declared: German detected
        elif p["site_id"] == sites[2]:
            p["lang"], p["text"] = "en", FRENCH  # declared English: taken at its word
    pq.write_table(pa.Table.from_pylist(pages, pq.read_schema(crawl / "pages.parquet")), crawl / "pages.parquet")
    out = tmp_path / "p.parquet"
    assert _predict("--crawl", crawl, "--model", model_dir, "--out", out) == 0
    warning = {r["site_id"]: r["warning"] for r in _rows(out)}
    assert [warning[s] for s in sites] == ["non_english_text", "non_english_text", None, None]
    assert {r["name"] for r in _rows(out)} == {f"Business {i}" for i in range(4)}
