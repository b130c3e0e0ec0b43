"""Feed loading: the real Saleor feed, messy rows, column mapping, JSON/JSONL, prices, text cleaning."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from brandflow.errors import ImageError, SpecError
from brandflow.records import Money
from brandflow.spec import FeedFilter, FeedSpec
from brandflow.feed.catalog import RowError, check_image, clean_text, load_feed, parse_price, read_feed_rows

SALEOR = Path(__file__).resolve().parents[2] / "examples" / "saleor"
HEADER = "id,title,description,product_type,price,image_link,additional_image_link\n"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """tmp/img with a.png, b.png (valid 16×16 RGBA) and broken.png (a truncated PNG)."""
    d = tmp_path / "img"
    d.mkdir()
    for name, colour in (("a.png", (26, 99, 236, 255)), ("b.png", (200, 30, 30, 255))):
        Image.new("RGBA", (16, 16), colour).save(d / name)
    Image.new("RGB", (64, 64), (1, 2, 3)).save(d / "full.png")
    data = (d / "full.png").read_bytes()
    (d / "broken.png").write_bytes(data[: len(data) // 2])
    return d


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------- the real feed
def test_saleor_feed_loads_32_clean_products():
    products, rejections = load_feed(FeedSpec(path=SALEOR / "products.csv"))
    assert rejections == []
    assert len(products) == 32
    assert [p.row for p in products] == list(range(1, 33))
    assert len({p.id for p in products}) == 32
    for p in products:
        assert "&nbsp;" not in p.description and "\xa0" not in p.description
        assert "<" not in p.description and "  " not in p.description
        assert p.price is not None and p.price.currency == "USD"
        assert all(i.is_absolute() and i.is_file() for i in p.images)
    by_id = {p.id: p for p in products}
    # curly quotes are text and are kept as they are
    assert "wouldn’t" in by_id["white-plimsolls"].description
    # "&nbsp;" between sentences became one space
    assert by_id["dash-force"].description.startswith("Step into summer with the right balance. Every time")
    assert len(by_id["white-plimsolls"].images) == 4
    assert by_id["white-plimsolls"].price == Money(amount=Decimal("80.00"), currency="USD")
    assert by_id["enterprise-cloud-on-premises-tales"].price.amount == Decimal("8.99")
    assert by_id["grey-hoodie"].description == ""
    assert by_id["apple-juice"].product_type == "Groceries > Juices"


def test_saleor_feed_filter():
    spec = FeedSpec(path=SALEOR / "products.csv", filter=FeedFilter(product_type_prefix="Groceries"))
    products, _ = load_feed(spec)
    assert sorted(p.id for p in products) == ["apple-juice", "banana-juice", "bean-juice", "carrot-juice"]
    spec = FeedSpec(path=SALEOR / "products.csv", filter=FeedFilter(ids=["mighty-mug", "dash-force"]))
    assert [p.id for p in load_feed(spec)[0]] == ["dash-force", "mighty-mug"]  # feed order


# --------------------------------------------------------------------------- messy rows
def test_messy_csv_rows_become_rejections(tmp_path: Path, images: Path, caplog: pytest.LogCaptureFixture):
    rows = [
        'ok,Good product,"<p>Fine&nbsp;<b>text</b></p>",Home > Mugs,10.00 USD,img/a.png,"img/b.png, img/missing.png"',  # 1
        "no-title,,desc,,10.00 USD,img/a.png,",                          # 2 missing title
        "broken,Broken image,,,10.00 USD,img/broken.png,",               # 3 truncated PNG
        "bad-price,Bad price,,,ten dollars,img/a.png,",                  # 4
        "url,Remote,,,10.00 USD,https://cdn.example.com/a.png,",         # 5
        "ok,Duplicate,,,10.00 USD,img/b.png,",                           # 6 duplicate id
        "no-currency,No currency,,,10.00,img/a.png,",                    # 7
        "negative,Negative,,,-5.00 USD,img/a.png,",                      # 8
        "missing-file,Missing,,,5 USD,img/nope.png,",                    # 9
        ",Blank id,,,5 USD,img/a.png,",                                  # 10
        "free,No price is fine,,,,img/a.png,",                           # 11 price is optional
        '"ctl\x07id",Control,,,5 USD,img/a.png,',                         # 12 control character in id
        "no-image,No image,,,5 USD,,",                                   # 13
    ]
    feed = write(tmp_path, "feed.csv", HEADER + "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="brandflow.feed.catalog"):
        products, rejections = load_feed(FeedSpec(path=feed))

    assert [p.id for p in products] == ["ok", "free"]
    ok, free = products
    assert ok.description == "Fine text"
    assert ok.images == [images / "a.png", images / "b.png"]  # the missing additional image is dropped …
    assert "missing.png" in caplog.text  # … with a warning
    assert free.price is None and free.row == 11

    got = {r.row: r for r in rejections}
    assert sorted(got) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    assert all(r.source == str(feed) for r in rejections)
    assert got[2].field == "title" and got[2].product_id == "no-title" and "missing" in got[2].reason
    assert got[3].field == "image_link" and "broken.png" in got[3].reason
    assert got[4].field == "price" and "'10.00 USD'" in got[4].reason
    assert got[5].field == "image_link"
    assert got[5].reason == "remote image URLs are not fetched; download packshots and point image_link at files"
    assert got[6].field == "id" and "duplicate" in got[6].reason and "row 1" in got[6].reason
    assert got[7].reason == "price '10.00' has no currency; write it as '10.00 USD' (ISO 4217)"
    assert "negative" in got[8].reason
    assert got[9].field == "image_link" and "file not found" in got[9].reason
    assert got[10].field == "id" and got[10].product_id is None
    assert got[12].field == "id" and "U+0007" in got[12].reason
    assert got[13].field == "image_link"


def test_row_numbers_count_records_not_lines(tmp_path: Path, images: Path):
    body = 'a,A,"two\nlines",,1 USD,img/a.png,\n\nb,,,,1 USD,img/a.png,\n'
    _, rejections = load_feed(FeedSpec(path=write(tmp_path, "f.csv", HEADER + body)))
    assert [(r.row, r.product_id) for r in rejections] == [(2, "b")]  # line 5 of the file, record 2


def test_csv_row_with_too_many_fields(tmp_path: Path, images: Path):
    feed = write(tmp_path, "f.csv", HEADER + "a,A,d,t,1 USD,img/a.png,,extra\n")
    products, rejections = load_feed(FeedSpec(path=feed))
    assert products == [] and "header has 7" in rejections[0].reason


def test_images_dir_and_tsv(tmp_path: Path, images: Path):
    feed = write(tmp_path, "f.tsv", "id\ttitle\timage_link\nx\tX\ta.png\n")
    products, rejections = load_feed(FeedSpec(path=feed, images_dir=images))
    assert rejections == [] and products[0].images == [images / "a.png"]


# --------------------------------------------------------------------------- feed-level errors
def test_missing_required_column_raises_spec_error(tmp_path: Path, images: Path):
    feed = write(tmp_path, "f.csv", "id,name,image_link\nx,X,img/a.png\n")
    with pytest.raises(SpecError) as e:
        load_feed(FeedSpec(path=feed))
    msg = str(e.value)
    assert e.value.field == "title" and e.value.path == feed
    assert "'title'" in msg and "columns found: id, name, image_link" in msg
    assert "feed.columns: {title: your_column}" in msg


def test_missing_column_suggests_near_match(tmp_path: Path, images: Path):
    feed = write(tmp_path, "f.csv", "ID,Title,Image Link\nx,X,img/a.png\n")
    with pytest.raises(SpecError, match=r"feed.columns: \{id: ID\}"):
        load_feed(FeedSpec(path=feed))


def test_mapped_optional_column_must_exist(tmp_path: Path, images: Path):
    feed = write(tmp_path, "f.csv", "id,title,image_link\nx,X,img/a.png\n")
    with pytest.raises(SpecError) as e:
        load_feed(FeedSpec(path=feed, columns={"price": "cost"}))
    assert e.value.field == "price" and "'cost'" in str(e.value)


def test_feed_file_errors(tmp_path: Path):
    with pytest.raises(SpecError, match="file not found"):
        load_feed(FeedSpec(path=tmp_path / "none.csv"))
    with pytest.raises(SpecError, match="feed.format"):
        load_feed(FeedSpec(path=write(tmp_path, "f.xml", "<x/>")))
    with pytest.raises(SpecError, match="line 1, column"):
        load_feed(FeedSpec(path=write(tmp_path, "f.json", "[{,]")))
    with pytest.raises(SpecError, match="empty"):
        load_feed(FeedSpec(path=write(tmp_path, "e.csv", "")))
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("id,title,image_link\nx,Caf\xe9,a.png\n".encode("latin-1"))
    with pytest.raises(SpecError, match="UTF-8"):
        load_feed(FeedSpec(path=bad))


# --------------------------------------------------------------------------- JSON / JSONL
def test_json_feed_with_column_mapping(tmp_path: Path, images: Path):
    data = {"products": [
        {"sku": 101, "name": "Mug &amp; Co", "cost": {"value": "12.50", "currency": "EUR"},
         "picture": "img/a.png", "more": ["img/b.png"], "kind": "Home"},
        {"sku": "102", "name": "Second", "cost": "9,99 €", "picture": "img/b.png", "more": "img/a.png, img/b.png"},
        "not an object",
        {"sku": "104", "name": ["list"], "picture": "img/a.png"},
    ]}
    feed = write(tmp_path, "feed.json", json.dumps(data))
    cols = {"id": "sku", "title": "name", "price": "cost", "image_link": "picture",
            "additional_image_link": "more", "product_type": "kind"}
    products, rejections = load_feed(FeedSpec(path=feed, columns=cols))
    assert [p.id for p in products] == ["101", "102"]
    assert products[0].title == "Mug & Co" and products[0].product_type == "Home"
    assert products[0].price == Money(amount=Decimal("12.50"), currency="EUR")
    assert products[0].images == [images / "a.png", images / "b.png"]
    assert products[1].price == Money(amount=Decimal("9.99"), currency="EUR")
    assert products[1].images == [images / "b.png", images / "a.png"]  # the repeat of b.png is dropped
    assert [(r.row, r.field) for r in rejections] == [(3, None), (4, "title")]


def test_json_plain_list_and_format_override(tmp_path: Path, images: Path):
    feed = write(tmp_path, "feed.data", json.dumps([{"id": "a", "title": "A", "image_link": "img/a.png", "price": "1 USD"}]))
    products, _ = load_feed(FeedSpec(path=feed, format="json"))
    assert products[0].id == "a" and products[0].row == 1


def test_jsonl_feed_with_mapping_and_bad_line(tmp_path: Path, images: Path):
    lines = [
        json.dumps({"pid": "a", "t": "A \"quoted\" title", "img": "img/a.png", "price": "USD 3"}),
        "",
        "{not json",
        json.dumps({"pid": "c", "t": "C", "img": "img/broken.png"}),
        json.dumps({"pid": "d", "t": "D", "img": str(images / "b.png")}),  # absolute path
    ]
    feed = write(tmp_path, "feed.jsonl", "\n".join(lines) + "\n")
    products, rejections = load_feed(FeedSpec(path=feed, columns={"id": "pid", "title": "t", "image_link": "img"}))
    assert [(p.id, p.row) for p in products] == [("a", 1), ("d", 4)]
    assert products[0].title == 'A "quoted" title'
    assert products[0].price == Money(amount=Decimal("3"), currency="USD")
    assert rejections[0].row == 2 and "line 3 is not valid JSON" in rejections[0].reason
    assert rejections[1].row == 3 and rejections[1].field == "image_link"


def test_jsonl_missing_column_everywhere(tmp_path: Path):
    feed = write(tmp_path, "f.jsonl", json.dumps({"id": "a", "title": "A"}) + "\n")
    with pytest.raises(SpecError, match="image_link"):
        read_feed_rows(FeedSpec(path=feed))


# --------------------------------------------------------------------------- prices
@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("10.00 USD", "10.00", "USD"),
        ("USD 10.00", "10.00", "USD"),
        ("$10", "10", "USD"),
        ("10,50 EUR", "10.50", "EUR"),
        ("1.234,56 EUR", "1234.56", "EUR"),
        ("1,234.56 USD", "1234.56", "USD"),
        ("€10,50", "10.50", "EUR"),
        ("10 €", "10", "EUR"),
        ("£5.99", "5.99", "GBP"),
        ("¥1,000", "1000", "JPY"),
        ("1 234,56 EUR", "1234.56", "EUR"),
        ("1'234.50 CHF", "1234.50", "CHF"),
        ("1.000.000,00 EUR", "1000000.00", "EUR"),
        ("10.00usd", "10.00", "USD"),
        ("0 USD", "0", "USD"),
        ("$ 10.00 USD", "10.00", "USD"),
    ],
)
def test_parse_price(text: str, amount: str, currency: str):
    assert parse_price(text) == Money(amount=Decimal(amount), currency=currency)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10.00", "has no currency"),
        ("10", "has no currency"),
        ("-5 USD", "negative"),
        ("USD -5", "negative"),
        ("ten dollars", "is not a price"),
        ("1,234 USD", "ambiguous"),
        ("10.999 USD", "ambiguous"),
        ("1.2.3 EUR", "thousands separators"),
        ("$10 EUR", "disagrees"),
        ("USD", "is not a price"),
    ],
)
def test_parse_price_rejects(text: str, reason: str):
    with pytest.raises(RowError, match=reason) as e:
        parse_price(text)
    assert e.value.field == "price"


def test_parse_price_number_without_currency():
    with pytest.raises(RowError, match="no currency"):
        parse_price(10.5)


# --------------------------------------------------------------------------- text and images
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a&nbsp;b", "a b"),
        ("<p>One</p><p>Two<br>Three</p>", "One Two Three"),
        ("Fish &amp; Chips", "Fish & Chips"),
        ("It’s “quoted”", "It’s “quoted”"),
        ("  lots \n\t of   space ", "lots of space"),
        ("x<script>alert(1)</script>y", "xy"),
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("bell\x07char", "bell char"),
        ("&amp;nbsp;", "&nbsp;"),  # decoded once only, as documented
    ],
)
def test_clean_text(raw: str, clean: str):
    assert clean_text(raw) == clean


def test_check_image_catches_truncation_and_corruption(tmp_path: Path, images: Path):
    check_image(images / "a.png")
    with pytest.raises(ImageError, match="broken.png"):
        check_image(images / "broken.png")
    data = bytearray((images / "full.png").read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 8] ^= 0xFF  # flip a byte inside the compressed pixel data: CRC mismatch
    (tmp_path / "flipped.png").write_bytes(bytes(data))
    with pytest.raises(ImageError):
        check_image(tmp_path / "flipped.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError):
        check_image(tmp_path / "text.png")


def test_check_image_decodes_jpeg(tmp_path: Path):
    Image.new("RGB", (64, 64), (10, 20, 30)).save(tmp_path / "ok.jpg", quality=90)
    check_image(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError):
        check_image(tmp_path / "cut.jpg")


def test_trusted_images_are_hashed_not_decoded_and_only_those_very_bytes(tmp_path: Path):
    """load_feed(trusted=path→sha256): an image an earlier run checked is trusted by its sha256 alone (brandflow
    run's no-op check); changed bytes are checked in full, so a file truncated since is still rejected."""
    import hashlib

    d = tmp_path / "img"
    d.mkdir()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(d / "good.webp")
    good = (d / "good.webp").read_bytes()
    (d / "cut.webp").write_bytes(good[: len(good) // 2])
    (d / "cut-trusted.webp").write_bytes(good[: len(good) // 2])
    feed = write(tmp_path, "f.csv", HEADER + "g,G,,,1 USD,img/good.webp,\nc,C,,,1 USD,img/cut.webp,\nt,T,,,1 USD,img/cut-trusted.webp,\n")
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    untrusted = load_feed(FeedSpec(path=feed))
    assert [p.id for p in untrusted[0]] == ["g"] and {r.product_id for r in untrusted[1]} == {"c", "t"}
    trusted = {str(d / "good.webp"): sha(d / "good.webp"), str(d / "cut.webp"): sha(d / "good.webp"),
               str(d / "cut-trusted.webp"): sha(d / "cut-trusted.webp")}
    products, rejections = load_feed(FeedSpec(path=feed), trusted)
    assert [p.id for p in products] == ["g", "t"], "the very bytes an earlier run checked are not decoded again"
    assert [r.product_id for r in rejections] == ["c"] and rejections[0].field == "image_link", \
        "a file whose bytes changed since it was checked is checked again, and a truncated one is rejected"


def test_an_image_this_process_checked_is_hashed_not_decoded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """brandflow run checks the feed before the flow loads it again: the second load decodes nothing it already
    checked with the same bytes; a file changed in between (here truncated) is checked again and rejected."""
    from brandflow.feed import catalog

    d = tmp_path / "img"
    d.mkdir()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(d / "a.webp")
    Image.new("RGB", (64, 64), (200, 120, 10)).save(d / "b.webp")
    feed = write(tmp_path, "f.csv", HEADER + "a,A,,,1 USD,img/a.webp,\nb,B,,,1 USD,img/b.webp,\n")
    decoded: list[str] = []
    real = catalog.check_image
    monkeypatch.setattr(catalog, "check_image", lambda p: decoded.append(Path(p).name) or real(p))

    assert [p.id for p in load_feed(FeedSpec(path=feed))[0]] == ["a", "b"]
    assert sorted(decoded) == ["a.webp", "b.webp"]
    decoded.clear()
    assert [p.id for p in load_feed(FeedSpec(path=feed))[0]] == ["a", "b"]
    assert decoded == [], "the same bytes are not decoded twice in one process"

    data = (d / "b.webp").read_bytes()
    (d / "b.webp").write_bytes(data[: len(data) // 2])
    products, rejections = load_feed(FeedSpec(path=feed))
    assert decoded == ["b.webp"], "changed bytes are checked again"
    assert [p.id for p in products] == ["a"] and [r.product_id for r in rejections] == ["b"]
    decoded.clear()
    load_feed(FeedSpec(path=feed))
    assert decoded == ["b.webp"], "a file that failed its check is never remembered as checked"
