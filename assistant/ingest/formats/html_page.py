"""Saved web page → `Extracted`: the article's main text through trafilatura, and
title, date and author from the page's JSON-LD, <meta> tags or <title>.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .extracted import Extracted
from .limits import MB, Deadline, ExtractLimits
from .text import Layer, clean

__all__ = ["extract_html"]

if TYPE_CHECKING:
    from lxml.html import HtmlElement


_ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "blogposting",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "scholarlyarticle",
    "report",
    "techarticle",
    "webpage",
}
_DATE_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.created",
    "dcterms.date",
    "citation_publication_date",
    "citation_date",
    "parsely-pub-date",
    "sailthru.date",
    "pubdate",
    "publish-date",
)
_AUTHOR_META = ("author", "article:author", "dc.creator", "citation_author", "parsely-author")
_TITLE_META = ("og:title", "twitter:title", "dc.title", "citation_title")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _parse_date(value: Any) -> dt.date | None:
    """The first ISO date (YYYY-MM-DD) in a metadata value, or None."""
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.search(value)
    if match:
        with contextlib.suppress(ValueError):
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
    return None


def _json_ld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    """The JSON-LD objects of a page, @graph members included (bounded)."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = script.text or ""
        if len(raw) > MB:
            continue
        try:
            parsed = json.loads(raw)
        except ValueError:
            continue
        stack: list[Any] = [parsed]
        visited = 0
        while stack and visited < 1000:
            visited += 1
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])


def _ld_types(item: dict[str, Any]) -> set[str]:
    """A JSON-LD object's @type values, lower-cased."""
    kinds = item.get("@type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return {str(k).lower() for k in kinds}


def _ld_author(value: Any) -> str | None:
    """The author names of a JSON-LD author value, comma-separated."""
    values = value if isinstance(value, list) else [value]
    names = []
    for entry in values[:10]:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and clean(name):
            names.append(clean(name))
    return ", ".join(names) or None


def _html_metadata(tree: HtmlElement) -> tuple[str | None, dt.date | None, str | None]:
    """Title, date and author from the page's metadata: JSON-LD, then Open Graph and
    other <meta> tags, then <title>; None where the page states none."""
    title: str | None = None
    date: dt.date | None = None
    author: str | None = None
    articles = [item for item in _json_ld_objects(tree) if _ld_types(item) & _ARTICLE_TYPES]
    articles.sort(key=lambda item: "webpage" in _ld_types(item))  # articles first
    for item in articles:
        headline = item.get("headline") or item.get("name")
        title = title or (clean(headline) if isinstance(headline, str) else None) or None
        date = (
            date or _parse_date(item.get("datePublished")) or _parse_date(item.get("dateCreated"))
        )
        author = author or _ld_author(item.get("author") or item.get("creator"))
    meta: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = (
            element.get("property") or element.get("name") or element.get("itemprop") or ""
        ).strip()
        value = element.get("content")
        if key and value and key.lower() not in meta:
            meta[key.lower()] = value
    for key in _TITLE_META:
        title = title or clean(meta.get(key, "")) or None
    for key in _DATE_META:
        date = date or _parse_date(meta.get(key))
    for key in _AUTHOR_META:
        value = clean(meta.get(key, ""))
        if value and not value.startswith(("http://", "https://")):
            author = author or value
    if title is None:
        element = tree.find(".//title")
        page_title = clean(element.text_content()) if element is not None else ""
        site = clean(meta.get("og:site_name", ""))
        for separator in (" | ", " - ", " – ", " — ", " · "):
            if site and page_title.endswith(separator + site):
                page_title = page_title[: -len(separator + site)]
        title = page_title or None
    return title, date, author


def _html_block_text(element: Any) -> str:
    """A block's text on one line, line breaks as spaces."""
    for lb in element.iter("lb"):
        lb.tail = " " + (lb.tail or "")
    return clean("".join(element.itertext()))


def _html_blocks(body: Any, depth: int = 0) -> Iterator[tuple[str, bool]]:
    """(line, is heading) for each block of trafilatura's main-text tree."""
    for element in body:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag == "head":
            yield _html_block_text(element), True
        elif tag == "list" and depth < 20:
            for item in element:
                nested = [child for child in item if child.tag == "list"]
                for child in nested:
                    item.remove(child)
                yield f"- {_html_block_text(item)}", False
                for child in nested:
                    yield from _html_blocks([child], depth + 1)
        elif tag == "table":
            for row in element.iter("row"):
                cells = [_html_block_text(cell) for cell in row.iter("cell")]
                yield " | ".join(cell for cell in cells if cell), False
        elif tag == "div" and depth < 20:
            yield from _html_blocks(element, depth + 1)
        elif tag:
            yield _html_block_text(element), False


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _html_encoding(data: bytes) -> str:
    """The page's encoding: its byte-order mark, its <meta> charset, else UTF-8 if
    it decodes as such, else Windows-1252 (what browsers assume)."""
    import codecs

    for bom, name in (
        (codecs.BOM_UTF8, "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if data.startswith(bom):
            return name
    declared = _META_CHARSET.search(data[:8192])
    if declared:
        with contextlib.suppress(LookupError):
            return codecs.lookup(declared.group(1).decode("ascii")).name
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def extract_html(data: bytes, limits: ExtractLimits, deadline: Deadline) -> Extracted:
    """A saved web page's main text, sections, title, date and author."""
    import lxml.etree
    import lxml.html
    import trafilatura
    from trafilatura.settings import use_config

    parser = lxml.html.HTMLParser(
        encoding=_html_encoding(data),
        remove_comments=True,
        remove_pis=True,
        no_network=True,
        huge_tree=False,
    )
    try:
        tree = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ValueError(f"unreadable HTML: {exc}") from None
    deadline.check()
    title, date, author = _html_metadata(tree)
    config = use_config()
    config.set("DEFAULT", "MAX_FILE_SIZE", str(int(limits.max_html_mb * MB)))
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    document = trafilatura.bare_extraction(
        tree,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        config=config,
    )
    deadline.check()
    if document is None or isinstance(document, dict) or document.body is None:
        raise ValueError("no main text found in the HTML page")
    layer = Layer()
    for line, heading in _html_blocks(document.body):
        if line and line != "-":
            layer.add(line, heading=heading)
    text = layer.text()
    if not text:
        raise ValueError("no main text found in the HTML page")
    return Extracted(
        text=text,
        title=title or (clean(document.title or "") or None),
        date=date or _parse_date(document.date),
        author=author or (clean(document.author or "") or None),
        pages=None,
        sections=layer.sections,
        kind="html",
    )
