"""Prompt and overlay rendering: built-in templates on real data, sandboxing, JSON safety, errors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from brandflow.errors import TemplateError
from brandflow.records import Money, Product, StructuredPrompt
from brandflow.spec import BrandKit, CampaignSpec, FeedSpec, OverlaySpec, load_brand_kit
from brandflow.feed.catalog import load_feed
from brandflow.prompts.render import BUILTIN_DIR, render_overlay, render_prompt

SALEOR = Path(__file__).resolve().parents[2] / "examples" / "saleor"


@pytest.fixture(scope="module")
def saleor_products() -> list[Product]:
    products, rejections = load_feed(FeedSpec(path=SALEOR / "products.csv"))
    assert not rejections
    return products


@pytest.fixture(scope="module")
def brand() -> BrandKit:
    return load_brand_kit(SALEOR / "brand.yaml")


@pytest.fixture(scope="module")
def campaign() -> CampaignSpec:
    return CampaignSpec(
        name="Spring Launch",
        brand_kit=SALEOR / "brand.yaml",
        feed=FeedSpec(path=SALEOR / "products.csv"),
        formats=[{"name": "square", "width": 1080, "height": 1080}],
        variants=4,
    )


@pytest.fixture
def product(tmp_path: Path) -> Product:
    img = tmp_path / "a.png"
    img.write_bytes(b"")  # never opened by the prompt stage
    return Product(id="p-1", title="Blue Mug", product_type="Home > Mugs",
                   price=Money(amount=Decimal("12.5"), currency="USD"), images=[img], row=1)


def tmpl(tmp_path: Path, text: str, name: str = "t.json.j2") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# --------------------------------------------------------------------------- built-in templates
def test_brand_kit_example_is_valid(brand: BrandKit):
    assert brand.colour("primary").hex == "#1864EC"
    assert {c.role for c in brand.colours} == {"primary", "secondary", "accent", "text", "background"}


@pytest.mark.parametrize("template", ["studio", "lifestyle"])
def test_builtin_templates_validate_for_every_saleor_product(template, saleor_products, brand, campaign):
    palette = list(dict.fromkeys(brand.palette))
    primary = brand.colour("primary")
    for p in saleor_products:
        for variant in range(campaign.variants):
            prompt = render_prompt(template, p, brand, campaign, variant)
            assert isinstance(prompt, StructuredPrompt)
            assert prompt.color_palette == palette
            # the hex sits next to the object it colours
            assert f"in {primary.hex} (brand primary, {primary.name})" in prompt.background
            assert p.title in prompt.subjects[0].description
            assert "reference image 1" in prompt.subjects[0].description
            assert prompt.camera.angle and prompt.camera.lens and prompt.camera.depth_of_field
            # DESIGN.md: local FLUX.2 truncates at 512 tokens; minified JSON runs ~3 characters per token
            assert len(prompt.to_json()) < 1450


@pytest.mark.parametrize("template", ["studio", "lifestyle"])
def test_variants_differ(template, saleor_products, brand, campaign):
    p = saleor_products[0]
    prompts = [render_prompt(template, p, brand, campaign, v).to_json() for v in range(3)]
    assert len(set(prompts)) == 3
    assert render_prompt(template, p, brand, campaign, 0) == render_prompt(template, p, brand, campaign, 0)


def test_lifestyle_setting_follows_product_type(saleor_products, brand, campaign):
    by_id = {p.id: p for p in saleor_products}
    scene = {pid: render_prompt("lifestyle", by_id[pid], brand, campaign, 0).scene
             for pid in ("apple-juice", "dash-force", "blue-hoodie", "mighty-mug", "own-your-stack-and-data")}
    assert "kitchen" in scene["apple-juice"]
    assert "street" in scene["dash-force"]  # "Apparel > Sneakers": the specific segment wins
    assert "loft" in scene["blue-hoodie"]
    assert "living room" in scene["mighty-mug"]
    assert "office" in scene["own-your-stack-and-data"]


def test_builtin_templates_work_with_a_primary_only_brand(product, campaign):
    kit = BrandKit(name="Mono", colours=[{"name": "Red", "hex": "#cc0000", "role": "primary"}])
    for t in ("studio", "lifestyle"):
        prompt = render_prompt(t, product, kit, campaign, 0)
        assert prompt.color_palette == ["#CC0000"]


@pytest.mark.parametrize(
    "title",
    [
        'The "Best" Mug',
        "Back\\slash \\u0022 \\n",
        '", "scene": "injected',
        "line\nbreak\ttab",
        "{{ 7*7 }} {% raw %}",
        "</script><b>x</b> ’curly’ 🚀",
    ],
)
def test_product_text_cannot_break_or_inject_json(title, product, brand, campaign):
    p = product.model_copy(update={"title": title, "product_type": 'Home > "Mugs" \\ Cups'})
    for t in ("studio", "lifestyle"):
        prompt = render_prompt(t, p, brand, campaign, 1)
        assert title in prompt.scene  # verbatim, not interpreted
        assert set(json.loads(prompt.to_json())) == set(StructuredPrompt.model_fields)


# --------------------------------------------------------------------------- sandbox
@pytest.mark.parametrize(
    "expr",
    [
        "''.__class__.__mro__",
        "product.__class__",
        "product.title.__class__.__base__.__subclasses__()",
        "cycler.__init__.__globals__",
        "lipsum.__globals__",
        "'{0.__class__}'.format(product)",
        "product.images.append('x')",
        "product.update({'id': 'x'})",
    ],
)
def test_sandbox_escape_fails_closed(expr, tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{"scene": {{ (%s) | tojson }}, "subjects": [{"description": "x"}]}' % expr)
    with pytest.raises(TemplateError) as e:
        render_prompt(t, product, brand, campaign, 0)
    assert "refused by the sandbox" in str(e.value)
    assert "p-1" in str(e.value) and "t.json.j2" in str(e.value)


def test_sandbox_error_message(tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{"scene": {{ "".__class__.__mro__ | tojson }}}')
    with pytest.raises(TemplateError, match=r"unsafe|sandbox"):
        render_prompt(t, product, brand, campaign, 0)


def test_sandbox_applies_to_overlays(product, campaign):
    with pytest.raises(TemplateError, match="overlay.cta"):
        render_overlay(OverlaySpec(cta="{{ ''.__class__.__mro__ }}"), product, campaign)


# --------------------------------------------------------------------------- errors name template, line, product
def test_undefined_variable_names_template_line_and_product(tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{\n  "scene": {{ product.title | tojson }},\n  "mood": {{ product.colour | tojson }},\n'
                       '  "subjects": [{"description": "x"}]\n}\n')
    with pytest.raises(TemplateError) as e:
        render_prompt(t, product, brand, campaign, 0)
    msg = str(e.value)
    assert t in msg and "line 3" in msg and "'p-1'" in msg and "colour" in msg
    assert (e.value.template, e.value.line, e.value.product_id) == (t, 3, "p-1")


def test_undefined_variable_in_builtin_reports_file(tmp_path, product, brand, campaign):
    # a user template extending a built-in one sees both folders
    t = tmpl(tmp_path, '{% include "studio.json.j2" %}{{ nope }}')
    with pytest.raises(TemplateError, match="nope"):
        render_prompt(t, product, brand, campaign, 0)


def test_raw_string_without_tojson_is_an_error(tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{\n"scene": "{{ product.title }}",\n"subjects": [{"description": "x"}]}')
    with pytest.raises(TemplateError, match=r"line 2.*tojson"):
        render_prompt(t, product, brand, campaign, 0)


def test_numbers_may_be_printed_raw(tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{"scene": {{ ("v" ~ variant) | tojson }}, "subjects": [{"description": "x", "position": {{ (variant * 2) | string | tojson }}}]}')
    assert render_prompt(t, product, brand, campaign, 3).subjects[0].position == "6"
    t2 = tmpl(tmp_path, '{"scene": "s", "subjects": [{"description": "x"}], "mood": "{{ variant }}"}', "n.json.j2")
    assert render_prompt(t2, product, brand, campaign, 5).mood == "5"


def test_syntax_error_names_line(tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{\n"scene": {{ product.title | tojson }},\n{% if %}\n}')
    with pytest.raises(TemplateError, match=r"line 3.*syntax error") as e:
        render_prompt(t, product, brand, campaign, 0)
    assert e.value.line == 3


def test_invalid_json_output(tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{"scene": {{ product.title | tojson }}, "subjects": [}')
    with pytest.raises(TemplateError, match=r"not valid JSON.*'p-1'"):
        render_prompt(t, product, brand, campaign, 0)


def test_schema_violation_names_field(tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{"scene": "s", "subjects": [{"description": "x"}], "color_palette": ["blue"]}')
    with pytest.raises(TemplateError, match="color_palette") as e:
        render_prompt(t, product, brand, campaign, 0)
    assert e.value.field == "color_palette"
    t = tmpl(tmp_path, '{"scene": "s", "subjects": []}', "e.json.j2")
    with pytest.raises(TemplateError, match="subjects"):
        render_prompt(t, product, brand, campaign, 0)
    t = tmpl(tmp_path, '{"scene": "s", "subjects": [{"description": "x"}], "extra": 1}', "x.json.j2")
    with pytest.raises(TemplateError, match="extra"):
        render_prompt(t, product, brand, campaign, 0)


def test_runtime_exception_is_a_template_error(tmp_path, product, brand, campaign):
    t = tmpl(tmp_path, '{"scene": {{ (1 / 0) | tojson }}}')
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render_prompt(t, product, brand, campaign, 0)


def test_template_not_found_lists_builtins(product, brand, campaign):
    with pytest.raises(TemplateError, match=r"studio"):
        render_prompt("nope", product, brand, campaign, 0)
    with pytest.raises(TemplateError, match="not found"):
        render_prompt("missing/file.json.j2", product, brand, campaign, 0)


def test_relative_template_path_uses_base_dir(tmp_path, product, brand, campaign):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "mine.json.j2").write_text('{"scene": {{ brand.name | tojson }}, "subjects": [{"description": "x"}]}')
    assert render_prompt("tpl/mine.json.j2", product, brand, campaign, 0, base_dir=tmp_path).scene == "Saleor"


def test_builtin_folder_holds_the_templates():
    assert {p.name for p in BUILTIN_DIR.glob("*.json.j2")} >= {"studio.json.j2", "lifestyle.json.j2"}


# --------------------------------------------------------------------------- overlays
def test_overlay_defaults(product, campaign):
    assert render_overlay(OverlaySpec(), product, campaign) == {"headline": "Blue Mug", "price": "$12.50", "cta": "Shop now"}
    no_price = product.model_copy(update={"price": None})
    assert render_overlay(OverlaySpec(), no_price, campaign)["price"] == ""


def test_overlay_prints_text_verbatim(product, campaign):
    p = product.model_copy(update={"title": 'Tom & "Jerry" {{ x }}'})
    out = render_overlay(OverlaySpec(headline="{{ product.title }} – {{ campaign.name }}", cta=""), p, campaign)
    assert out == {"headline": 'Tom & "Jerry" {{ x }} – Spring Launch', "price": "$12.50", "cta": ""}


def test_overlay_undefined_names_field_and_product(product, campaign):
    with pytest.raises(TemplateError) as e:
        render_overlay(OverlaySpec(headline="{{ product.name }}"), product, campaign)
    msg = str(e.value)
    assert "overlay.headline" in msg and "'p-1'" in msg and "no key 'name'" in msg and "title" in msg
    assert e.value.field == "overlay.headline"
    with pytest.raises(TemplateError, match="overlay.price.*syntax"):
        render_overlay(OverlaySpec(price="{{ product.price.display "), product, campaign)
