"""The data-quality pages: GX's Data Docs (offline) and the one-page summary.

``data-quality/index.html`` is the summary an analyst reads first (files, the ledger,
top reasons, quarantined rows); ``data-quality/data-docs/`` holds GX's own pages of
every validation, trimmed to examples of failing values and made to load nothing from
the network.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.contract import RULE_FIX, RULE_HELP

if TYPE_CHECKING:
    from pipeline.quality.run import QualityResult


_EXTERNAL_TAG = re.compile(
    r"<(?:link|script)\b[^>]*\b(?:href|src)\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>(?:\s*</script>)?",
    re.I,
)
_EXTERNAL_ATTR = re.compile(r"""\b(href|src)\s*=\s*(["'])\s*(?:https?:)?//[^"']*\2""", re.I)
_EXTERNAL_URL = re.compile(r"""url\(\s*(["']?)\s*(?:https?:)?//[^)]*\)""", re.I)
_EXTERNAL_IMPORT = re.compile(r"""@import\s+[^;]*(?:https?:)?//[^;]*;""", re.I)
_SCRIPT_BLOCK = re.compile(r"<script\b[^>]*>.*?</script>", re.I | re.S)

DOCS_CSS = """
/* Tierwise: GX Data Docs without CDN assets (bootstrap is not loaded). */
.container-fluid, .row { display: block; }
.col-12, .col-md-2, .col-md-3, .col-md-9, .col-md-10, .ge-main-content { width: 100%; }
nav, .navbar, .ge-sidebar, #sidebar, .sticky, .cooltip, .ge-info, .dropdown-menu { display: none; }
.collapse, .collapse:not(.show) { display: block; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #d9e2ec; padding: 4px 8px; text-align: left; }
.card { border: 1px solid #d9e2ec; border-radius: 6px; margin: 12px 0; padding: 8px 12px; }
.badge { padding: 0 6px; border-radius: 4px; background: #f5f7fa; }
.fa-check-circle, .text-success { color: #1c7c54; }
.fa-times, .text-danger { color: #b42318; }
code, pre { white-space: pre-wrap; word-break: break-word; }
"""


def make_offline(site: Path, stylesheet: str) -> int:
    """Rewrite a Data Docs site so no page loads anything from the network.

    GX 1.x has no setting for this: its page templates (``page.j2``, ``index_page.j2``,
    ``js_script_imports.j2``, ``favicon.j2``, ``top_navbar.j2``) write CDN links to
    Bootstrap, jQuery, Vega and Font Awesome and S3 image URLs into every page, and a
    site's ``plugins/custom_data_docs/views`` are searched *after* GX's own templates
    (``render/view/view.py``), so they cannot replace them; only a custom stylesheet can
    be added. A custom view class in the site config could search its own templates
    first, but only with copies of GX's page templates to maintain against every GX
    release. Hence this one post-processing step, checked by a test that no file under
    ``data-docs/`` refers to an ``http(s)://`` or ``//`` URL.

    CDN ``<link>``/``<script>`` tags and their inline scripts (which need jQuery and
    Bootstrap from the network) are removed, external ``src``/``href``/``url()`` become
    local or inert, and each page gets the Tierwise stylesheet inline. Returns the
    number of files changed.
    """
    changed = 0
    css_block = f'<style type="text/css">\n{stylesheet}\n{DOCS_CSS}\n</style>'
    for path in sorted(site.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (".html", ".css", ".js", ".json"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        new = _EXTERNAL_TAG.sub("", text)
        if path.suffix.lower() == ".html":
            new = _SCRIPT_BLOCK.sub("", new)
            new = new.replace("</head>", f"{css_block}\n</head>", 1)
        new = _EXTERNAL_ATTR.sub(lambda m: f'data-removed-{m.group(1)}=""', new)
        new = _EXTERNAL_URL.sub("none", new)
        new = _EXTERNAL_IMPORT.sub("", new)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def _trim_for_docs(result, keep: int = 20) -> None:
    """Data Docs show examples of failing values, not every index of a large run."""
    for item in result.results:
        res = item.result or {}
        for key in ("unexpected_index_list", "unexpected_list"):
            if key in res and isinstance(res[key], list) and len(res[key]) > keep:
                res[key] = res[key][:keep]
        if "unexpected_index_query" in res:
            res["unexpected_index_query"] = "(see quarantine.csv for every row)"


def build_data_docs(result: QualityResult, site: Path, stylesheet: str) -> Path:
    """GX Data Docs of this run's validations in ``site`` (offline); returns its index."""
    validator = result.validator
    context = validator.context
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for table, validation in result.validations.items():
        _trim_for_docs(validation)
        validator.store_for_docs(table, validation)
    context.add_data_docs_site(
        site_name="tierwise",
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(site.resolve()),
            },
        },
    )
    context.build_data_docs(site_names=["tierwise"])
    # Images GX copies but the offline pages do not use (logos, animated help).
    shutil.rmtree(site / "static" / "images", ignore_errors=True)
    make_offline(site, stylesheet)
    return site / "index.html"


def _cell(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (
        '<div class="tw-table-wrap"><table class="tw-table">'
        f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>"
    )


def _cards(ledger: pd.DataFrame) -> str:
    """The run in five numbers: files, records read, accepted, quarantined, skipped."""
    cards = "".join(
        f"<li><strong>{n:,}</strong>{html.escape(label)}</li>"
        for n, label in (
            (len(ledger["source_file"].unique()), "files read"),
            (int(ledger["records"].sum()), "records read"),
            (int(ledger["accepted"].sum()), "accepted"),
            (int(ledger["quarantined"].sum()), "quarantined"),
            (int(ledger["skipped"].sum()), "skipped (out of scope)"),
        )
    )
    return f'<ul class="tw-cards">{cards}</ul>'


FILE_HEADERS = [
    "File",
    "Layout (profile)",
    "Table",
    "Data rows",
    "Records",
    "Accepted",
    "Quarantined",
    "Skipped",
    "Skipped because",
]


def _files(ledger: pd.DataFrame) -> list[str]:
    """What happened to every record, and the ledger per file."""
    rows = [
        [
            f.source_file,
            f.profile,
            f.table,
            f.data_rows,
            f.records,
            f.accepted,
            f.quarantined,
            f.skipped,
            f.skipped_by_reason,
        ]
        for f in ledger.itertuples(index=False)
    ]
    return [
        '<p class="tw-lead">Every record of every file is counted: it is either '
        "<strong>accepted</strong> into the reports, <strong>quarantined</strong> (set aside "
        "because it breaks a rule; fix the export and run again) or <strong>skipped</strong> "
        "(out of scope by the file's profile, e.g. a subject Tierwise does not screen). "
        "Accepted + quarantined + skipped = records read, for every file.</p>",
        "<h2>Files</h2>",
        _table(FILE_HEADERS, rows),
    ]


def _quarantined(quarantine: pd.DataFrame, max_rows: int) -> list[str]:
    """The reasons, most rows first, and the first ``max_rows`` quarantined rows."""
    if quarantine.empty:
        return ['<h2>Quarantined rows</h2><p class="tw-empty">None: every record passed.</p>']
    top = (
        quarantine.groupby("rule")
        .agg(rows=("rule", "size"), files=("source_file", lambda s: ", ".join(sorted(set(s)))))
        .sort_values("rows", ascending=False)
    )
    return [
        "<h2>Top reasons</h2>",
        _table(
            ["Reason", "What it means", "What to do", "Rows", "Files"],
            [[r, RULE_HELP.get(r, ""), RULE_FIX.get(r, ""), n, f] for r, (n, f) in top.iterrows()],
        ),
        "<h2>Quarantined rows</h2>",
        '<p class="tw-lead">Row numbers are as a spreadsheet shows them (the header is '
        "row 1). The full list is in <code>quarantine.csv</code> beside the processed "
        "tables"
        + (f"; the first {max_rows} are shown" if len(quarantine) > max_rows else "")
        + ".</p>",
        _table(
            ["File", "Row", "Column", "Value", "Reason", "Also broke"],
            [
                [q.source_file, q.source_row, q.column, q.value, q.reason, q.also_broke]
                for q in quarantine.head(max_rows).itertuples(index=False)
            ],
        ),
    ]


def _notes(notes: list[str]) -> list[str]:
    """What ingest noticed and repaired on the way (a file's delimiter, encoding or header
    row; ids matched ignoring leading zeros)."""
    if not notes:
        return []
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return [f"<h2>Read and repaired</h2><ul>{items}</ul>"]


def _data_docs_link(href: str) -> str:
    return (
        "<h2>Every check, in detail</h2>"
        f"<p>The full validation results (Great Expectations Data Docs) are "
        f'<a href="{html.escape(href)}">here</a>: one page per table, each check '
        "with its pass rate and examples of failing values.</p>"
    )


def summary_html(
    result: QualityResult,
    title: str,
    stylesheet: str,
    generated_at: str,
    data_docs_href: str | None,
    max_rows: int = 200,
) -> str:
    """The one-page data-quality summary: ledger, top reasons, quarantined rows."""
    parts = [
        f'<header class="tw-header"><h1>{html.escape(title)}</h1>'
        "<p>What Tierwise read from your exports, what it set aside, and why.</p></header>",
        _cards(result.ledger),
        *_notes(result.notes),
        *_files(result.ledger),
        *_quarantined(result.quarantine, max_rows),
    ]
    if data_docs_href:
        parts.append(_data_docs_link(data_docs_href))
    parts.append(f'<p class="tw-footer">Generated by Tierwise on {html.escape(generated_at)}.</p>')
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f'<title>{html.escape(title)}</title>\n<style type="text/css">\n{stylesheet}\n</style>\n'
        f"</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def write_reports(
    result: QualityResult,
    out_dir: Path,
    title: str,
    stylesheet: str,
    data_docs: bool = True,
) -> Path:
    """``data-quality/index.html`` (the summary) and ``data-quality/data-docs/`` (GX)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    href = None
    if data_docs:
        build_data_docs(result, out_dir / "data-docs", stylesheet)
        href = "data-docs/index.html"
    generated_at = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = summary_html(result, title, stylesheet, generated_at, href)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
