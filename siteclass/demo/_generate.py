"""Deterministic generator of the embedded demo corpus (run once; its output is committed).

    python -m siteclass.demo._generate

Composes pages from hand-written per-industry prose (``_material_*.py``), shared prose (``_common.py``) and
the five layouts of ``_layouts.py``, for the fictional businesses of ``_sites.py``. Rewrites
``sites/``, ``sites.csv``, ``labels.csv`` and ``missing_links.csv`` next to this file.
"""

from __future__ import annotations

import csv
import random
import re
import shutil
import zlib
from pathlib import Path
from typing import Any

from siteclass.demo import _common as C
from siteclass.demo._layouts import LAYOUTS, Block, Page
from siteclass.demo._material_a import MATERIAL as MAT_A
from siteclass.demo._material_b import MATERIAL as MAT_B
from siteclass.demo._material_c import MATERIAL as MAT_C
from siteclass.demo._material_d import MATERIAL as MAT_D
from siteclass.demo._material_more import MORE
from siteclass.demo._sites import SITES
from siteclass.demo._specialties import SPECIALTY

HERE = Path(__file__).resolve().parent
MATERIAL: dict[str, dict[str, Any]] = {**MAT_A, **MAT_B, **MAT_C, **MAT_D}
for _label, _more in MORE.items():
    MATERIAL[_label] = {**MATERIAL[_label], **{k: MATERIAL[_label][k] + v for k, v in _more.items()}}
LAYOUT_NAMES = ["modern", "sidebar", "table", "article", "divsoup"]

ABOUT = [("About", "/about"), ("About us", "/about-us"), ("Our story", "/our-story"), ("Who we are", "/who-we-are"),
         ("The team", "/team"), ("Company", "/company")]
CONTACT = [("Contact", "/contact"), ("Contact us", "/contact-us"), ("Get in touch", "/get-in-touch"),
           ("Visit", "/visit"), ("Find us", "/location")]
CAREERS = [("Careers", "/careers"), ("Jobs", "/jobs"), ("Join our team", "/join-us"), ("Work with us", "/careers")]
BLOG_PREFIX = ["/blog", "/news", "/journal", "/articles", "/blog"]
HOME_LABEL = ["Home", "Home", "Start", "Welcome"]
GENERIC_OFFER_LABELS = ["Services", "What we do", "Capabilities"]

# Deliberate quirks, keyed by site id, so the crawler's filtering gets exercised.
ROBOTS = {
    "ironroad": "User-agent: *\nDisallow: /careers\n",
    "hale-whitcomb": "User-agent: *\nDisallow: /private/\n",
    "nimbusforge": "User-agent: *\nCrawl-delay: 1\nDisallow: /cgi-bin/\n\nUser-agent: BadBot\nDisallow: /\n",
}
PDF_LINKS = {  # site id -> (path, link text, file included?)
    "stonebridge": ("/brochure.pdf", "Download our brochure (PDF)", True),
    "ironroad": ("/downloads/rate-sheet.pdf", "Fuel surcharge table (PDF)", True),
    "cafe-lumiere": ("/files/menu.pdf", "Printable menu (PDF)", False),
    "hearthstone-realty": ("/brochure.pdf", "Buyer's guide (PDF)", False),
}
DEAD_LINKS = {"salt-cellar": ("/old-specials", "Last season's specials")}
ABSOLUTE_LINK_SITES = {"copperline", "ledgerly", "fernhill", "pulse-fitness", "maison-coiffure"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("&", " ")).strip("-")


def _tiny_pdf(title: str) -> bytes:
    """A minimal valid one-page PDF with correct xref offsets."""
    stream = f"BT /F1 18 Tf 72 720 Td ({title}) Tj ET".encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


class SiteBuilder:
    """Builds the pages of one fictional site."""

    def __init__(self, row: tuple[str, str, str, str, str, int, str], index: int) -> None:
        self.id, self.name, self.host, self.label, self.town, self.year, self.owner = row
        self.rng = random.Random(zlib.crc32(self.id.encode()))
        self.mat = MATERIAL[self.label]
        self.layout = LAYOUT_NAMES[index % len(LAYOUT_NAMES)] if index % 7 else self.rng.choice(LAYOUT_NAMES)
        bare = self.host.removeprefix("www.")
        self.ctx = {"name": self.name, "town": self.town, "year": self.year, "owner": self.owner,
                    "email": f"{self.rng.choice(['info', 'hello', 'office', 'contact'])}@{bare}"}
        self.phone = f"({self.rng.randint(201, 989)}) 555-{self.rng.randint(100, 999):04d}"
        self.dirstyle = self.rng.random() < 0.3
        self.lang = self.rng.choice(["en", "en", "en-US", "en-GB", None])
        self.with_meta = self.rng.random() < 0.6
        self.pages: dict[str, tuple[str, str, list[Block]]] = {}  # path -> (title, heading, blocks)

    def fmt(self, text: str) -> str:
        return text.format(**self.ctx)

    def pick(self, pool: list[Any], k: int) -> list[Any]:
        return self.rng.sample(pool, min(k, len(pool)))

    def link(self, path: str) -> str:
        if self.id in ABSOLUTE_LINK_SITES and self.rng.random() < 0.5:
            return f"https://{self.host}{path}"
        return path

    def plan(self) -> None:
        r = self.rng
        self.about = r.choice(ABOUT)
        label = r.choice(self.mat["offer_labels"] + [r.choice(GENERIC_OFFER_LABELS)])
        self.offer = (label, "/" + _slug(label))
        self.contact = r.choice(CONTACT)
        self.blog = r.choice(BLOG_PREFIX)
        extras: list[str] = ["ind_post", "gen_post", "careers", "privacy", "terms", "ind_post2"]
        r.shuffle(extras)
        n_extra = r.choice([0, 1, 2, 2, 3, 3, 4])
        if self.id in ROBOTS and "careers" in ROBOTS[self.id]:
            extras.remove("careers")
            extras.insert(0, "careers")
            n_extra = max(n_extra, 2)
        if self.id in ROBOTS and "/private/" in ROBOTS[self.id]:
            n_extra = min(n_extra, 3)
        self.extras = extras[:n_extra]
        self.careers = r.choice(CAREERS)
        self.privacy = r.choice(["/privacy", "/privacy-policy"])
        self.terms = r.choice(["/terms", "/terms-of-service", "/legal"])

    def nav(self) -> list[tuple[str, str]]:
        items = [("/", self.rng.choice(HOME_LABEL)), (self.about[1], self.about[0]), (self.offer[1], self.offer[0])]
        for path in self.pages:
            if path.startswith(self.blog + "/") and self.rng.random() < 0.5:
                items.append((path, "Blog" if self.blog == "/blog" else self.blog[1:].title()))
                break
        if "careers" in self.extras:
            items.append((self.careers[1], self.careers[0]))
        items.append((self.contact[1], self.contact[0]))
        return [(self.link(h), t) for h, t in items]

    def build_content(self) -> None:
        r, m = self.rng, self.mat
        posts: list[tuple[str, str, str]] = []
        ind_posts = self.pick(m["posts"], 2)
        for e in self.extras:
            if e == "ind_post":
                posts.append(ind_posts[0])
            elif e == "ind_post2":
                posts.append(ind_posts[1])
            elif e == "gen_post":
                posts.append(r.choice(C.GENERAL_POSTS))
        for slug, title, post_body in posts:
            paras = [s.strip() + "." for s in post_body.split(". ") if s.strip()]
            paras = [p.replace("..", ".") for p in paras]
            cut = max(1, len(paras) // 2)
            self.pages[f"{self.blog}/{slug}"] = (f"{title} | {self.name}", title,
                                                 [("p", " ".join(paras[:cut])), ("p", " ".join(paras[cut:]))])
        style = r.choice(["plain", "plain", "plain", "generic", "neighbour", "neighbour"])
        intro = [self.fmt(s) for s in self.pick(m["intro"], 1 if style == "generic" else r.choice([3, 4, 4]))]
        if style == "generic":  # thin marketing copy: the industry shows in few words
            intro += self.pick(C.GENERIC_HOME, r.randint(3, 4))
        elif style == "neighbour":  # a line that belongs to a related trade (a builder installing water heaters)
            other = MATERIAL[r.choice(C.NEIGHBOURS[self.label])]
            intro.insert(r.randint(1, len(intro)), self.fmt(r.choice(other["intro"][1:])))
        intro.insert(r.randint(0, 2), SPECIALTY[self.id])
        offers = self.pick(m["offer"], r.randint(5, 8))
        home: list[Block] = [("p", intro[0]), ("p", " ".join(intro[1:]))]
        home.append(("h2", r.choice(["What we do", "Highlights", "How we can help", f"Why {self.town} chooses us"])))
        if r.random() < 0.5:
            home.append(("links", [(self.link(self.offer[1]), t) for t, _d in offers[:3]]))
        else:
            home.append(("dl", offers[:3]))
            home.append(("links", [(self.link(self.offer[1]), r.choice(["See all services", "More", "Full list"]))]))
        home.append(("p", self.fmt(r.choice(["Family owned since {year}.", "Serving {town} since {year}.",
                                             "Proudly independent since {year}.", "Est. {year} in {town}."]))))
        home.append(("links", [(self.link(self.about[1]), r.choice([self.about[0], "More about us", f"Meet {self.name}"])),
                               (self.link(self.contact[1]), self.contact[0])]))
        if posts:
            home.append(("h2", r.choice(["Latest news", "From the blog", "Recent posts", "Updates"])))
            home.append(("links", [(self.link(p), self.pages[p][1]) for p in self.pages]))
        if self.id in PDF_LINKS:
            home.append(("links", [(PDF_LINKS[self.id][0], PDF_LINKS[self.id][1])]))
        if self.id in DEAD_LINKS:
            home.append(("links", [DEAD_LINKS[self.id]]))
        self.pages["/"] = (f"{self.name} – {self.town}" if r.random() < 0.5 else self.name, self.name, home)
        about_s = [self.fmt(s) for s in self.pick(m["about"], r.randint(4, 6))]
        if r.random() < 0.7:
            about_s.append(SPECIALTY[self.id])
        about: list[Block] = [("p", " ".join(about_s[:2])), ("p", " ".join(about_s[2:]))]
        if r.random() < 0.5:
            about.insert(1, ("h2", r.choice(["Our history", "Our values", "Meet the team", "How we work"])))
        self.pages[self.about[1]] = (f"{self.about[0]} – {self.name}", self.about[0], about)
        if r.random() < 0.5:
            body: list[Block] = [("dl", offers)]
        else:
            body = [b for t, d in offers for b in (("h2", t), ("p", d))]
        lead = r.choice(["Here is what we offer.", "Ask us about anything you do not see listed.",
                         "Prices on request; estimates are free.", ""])
        self.pages[self.offer[1]] = (f"{self.offer[0]} | {self.name}", self.offer[0], ([("p", lead)] if lead else []) + body)
        contact: list[Block] = [("p", r.choice(C.CONTACT_INTROS)),
                                ("p", f"{r.randint(10, 990)} {r.choice(C.STREETS)}, {self.town}"),
                                ("p", f"Phone: {self.phone} · Email: {self.ctx['email']}"),
                                ("h2", "Hours"), ("p", r.choice(C.HOURS))]
        if r.random() < 0.5:
            contact.append(("raw", f'<form method="post" action="{self.contact[1]}"><input name="name" placeholder="Your name">'
                                   '<textarea name="message"></textarea><button type="submit">Send</button></form>'))
        self.pages[self.contact[1]] = (f"{self.contact[0]} – {self.name}", self.contact[0], contact)
        if "careers" in self.extras:
            roles = C.ROLES[self.label]
            self.pages[self.careers[1]] = (f"Careers at {self.name}", self.careers[0], [
                ("p", r.choice(C.CAREER_INTROS)), ("h2", "Open positions"), ("ul", self.pick(roles, r.randint(1, 3))),
                ("h2", "Benefits"), ("ul", self.pick(C.CAREER_BENEFITS, 3)), ("p", self.fmt(r.choice(C.CAREER_OUTRO)))])
        if "privacy" in self.extras:
            self.pages[self.privacy] = ("Privacy Policy", "Privacy policy",
                                        [("p", self.fmt(s)) for s in r.choice(C.PRIVACY)])
        if "terms" in self.extras:
            self.pages[self.terms] = (f"Terms – {self.name}", "Terms of use",
                                      [("p", self.fmt(s)) for s in r.choice(C.TERMS)])
        if self.id in ROBOTS and "/private/" in ROBOTS[self.id]:
            self.pages["/private/staff"] = ("Staff area", "Staff area", [("p", "Internal documents for staff only.")])

    def render(self, out: Path) -> list[tuple[str, str]]:
        """Write the site's files under ``out/<host>``; return deliberately missing (host, path) links."""
        self.plan()
        self.build_content()
        nav = self.nav()
        footer = [(self.link(p), t) for p, t in ((self.privacy, "Privacy"), (self.terms, "Terms")) if p in self.pages]
        if "/private/staff" in self.pages:
            footer.append(("/private/staff", "Staff login"))
        external = self.pick(C.EXTERNAL, self.rng.choice([0, 1, 2]))
        desc = (SPECIALTY[self.id] if self.rng.random() < 0.5 else self.fmt(self.mat["intro"][0])) if self.with_meta else None
        root = out / self.host
        for path, (title, heading, blocks) in self.pages.items():
            page = Page(site_name=self.name, title=title, heading=heading, blocks=blocks, nav=nav, footer_links=footer,
                        external=external, description=desc if path == "/" or self.rng.random() < 0.3 else None,
                        lang=self.lang, year=2024, phone=self.phone, town=self.town)
            html = LAYOUTS[self.layout](page)
            if path == "/":
                target = root / "index.html"
            elif self.dirstyle:
                target = root / path.lstrip("/") / "index.html"
            else:
                target = root / (path.lstrip("/") + ".html")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
        if self.id in ROBOTS:
            (root / "robots.txt").write_text(ROBOTS[self.id], encoding="utf-8")
        missing: list[tuple[str, str]] = []
        if self.id in PDF_LINKS:
            path, text, included = PDF_LINKS[self.id]
            if included:
                (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                (root / path.lstrip("/")).write_bytes(_tiny_pdf(text.split(" (")[0]))
            else:
                missing.append((self.host, path))
        if self.id in DEAD_LINKS:
            missing.append((self.host, DEAD_LINKS[self.id][0]))
        return missing


def site_url(host: str, index: int) -> str:
    """The URL as written in sites.csv: some bare hosts without a scheme, to exercise input normalisation."""
    if not host.startswith("www.") and index % 3 == 0:
        return host
    if index % 11 == 5:
        return f"https://{host}"
    return f"https://{host}/"


def generate(demo_dir: Path = HERE) -> None:
    out = demo_dir / "sites"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    missing: list[tuple[str, str]] = []
    rows: list[tuple[str, str, str, str]] = []
    for i, row in enumerate(SITES):
        missing += SiteBuilder(row, i).render(out)
        rows.append((row[0], row[1], site_url(row[2], i), row[3]))
    with (demo_dir / "sites.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "name", "url"])
        w.writerows((r[0], r[1], r[2]) for r in rows)
    with (demo_dir / "labels.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "url", "label"])
        w.writerows((r[0], r[2], r[3]) for r in rows)
    with (demo_dir / "missing_links.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["host", "path"])
        w.writerows(sorted(missing))


if __name__ == "__main__":
    generate()
