"""`brandflow qa` finds the regions compose recorded (run folder or published manifest) and reads as the run did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from brandflow.cli import app
from brandflow.qa.recorded import find_record
from brandflow.records import Creative, sha256_file

WHITE = (255, 255, 255)


def _creative(tmp_path, gradient, draw_text):
    img, regions = draw_text(gradient(400), [("price", "$34.00", (40, 300), 48, WHITE)])
    path = tmp_path / "creative.png"
    Image.fromarray(img).save(path)
    return path, regions


def test_run_folder_record_and_published_manifest_are_found_by_sha(tmp_path, gradient, draw_text):
    path, regions = _creative(tmp_path, gradient, draw_text)
    sha = sha256_file(path)
    assert find_record(path) is None  # no record yet
    record = tmp_path / f"creative-{sha[:12]}.json"
    record.write_text(Creative(path=path, sha256=sha, width=400, height=400, file_type="png", bytes=1,
                               regions=regions).model_dump_json())
    found = find_record(path)
    assert found is not None and found.regions == tuple(regions) and found.source == record

    pub = tmp_path / "pub" / "camp" / "tee" / "square"
    pub.mkdir(parents=True)
    published = pub / "v0.png"
    published.write_bytes(path.read_bytes() + b"")  # same pixels; marked files differ in bytes, matched by their own sha
    manifest = tmp_path / "pub" / "camp" / "_runs" / "r1" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    job = {"published": {"sha256": sha256_file(published)},
           "attempts": [{"creative": {"regions": [r.model_dump(mode="json") for r in regions]}}]}
    manifest.write_text(json.dumps({"jobs": [{"published": {"sha256": "0" * 64}, "attempts": []}, job]}))
    found = find_record(published)
    assert found is not None and found.regions == tuple(regions) and found.source == manifest
    assert found.placed is None  # nothing recorded as pasted: a model drew the pixels
    pasted = {"path": str(path), "sha256": sha, "role": "primary_packshot", "box": {"x0": 10, "y0": 20, "x1": 110, "y1": 220}}
    job["attempts"][0]["creative"]["placed"] = [pasted]
    manifest.write_text(json.dumps({"jobs": [job]}))
    found = find_record(published)
    assert [(p.role, p.box.x1, p.sha256) for p in found.placed] == [("primary_packshot", 110, sha)]
    job["attempts"][0]["creative"]["placed"] = [{**pasted, "box": "everywhere"}]
    manifest.write_text(json.dumps({"jobs": [job]}))
    assert find_record(published) is None  # a malformed record is skipped, not raised
    (pub / "other.png").write_bytes(b"not the same file")
    assert find_record(pub / "other.png") is None
    manifest.write_text("{broken")
    assert find_record(published) is None  # a broken record is skipped, not raised


def test_cli_reads_recorded_regions_and_whole_image_on_request(tmp_path, gradient, draw_text, example_dir):
    path, regions = _creative(tmp_path, gradient, draw_text)
    sha = sha256_file(path)
    wrong = [regions[0].model_copy(update={"text": "$39.00"})]  # the record says $39.00; the pixels say $34.00
    (tmp_path / f"creative-{sha[:12]}.json").write_text(
        Creative(path=path, sha256=sha, width=400, height=400, file_type="png", bytes=1, regions=wrong).model_dump_json())
    runner = CliRunner()
    res = runner.invoke(app, ["qa", str(path), "--brand", str(example_dir / "brand.yaml"), "--checks", "text", "--json"])
    assert res.exit_code == 1, res.output
    text = json.loads(res.output)[str(path)]["checks"][0]
    assert text["reasons"] == ["price: the price reads $34.00; the expected text says $39.00"]
    res = runner.invoke(app, ["qa", str(path), "--brand", str(example_dir / "brand.yaml"), "--checks", "text", "--json",
                              "--whole-image", "--expect-text", "$34.00"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[str(path)]["checks"][0]["metrics"]["regions"] == []


def test_whole_image_reading_agrees_with_the_run_on_a_story_with_the_logo_beside_a_wrapped_headline(tmp_path, example_dir):
    """The example's story layout: a headline wrapped over two lines with the logo beside its first line. Read row by
    row, the logo landed inside the headline ("Monokai ‹logo› saleor Dimmed Sunnies": a tofu box and an extra word,
    a fail) and `brandflow qa --whole-image` disagreed with the run on 80 of the example's 128 creatives; read by
    text block it passes what the run passed, and a near-miss of the headline or the price still fails."""
    from brandflow.compose.overlay import compose
    from brandflow.generators.compositor import CompositorGenerator
    from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject
    from brandflow.spec import FormatSpec, OverlaySpec, load_brand_kit

    packshot = example_dir / "packshots" / "saleor-sunnies-dark.webp"
    job = Job(campaign="t", product_id="sunnies", product_title="Monokai Dimmed Sunnies",
              format=FormatSpec(name="story", width=1080, height=1920), variant=1, seed=7, backend="compositor",
              references=[ReferenceImage(path=packshot, role="primary_packshot", sha256=sha256_file(packshot))],
              prompt=StructuredPrompt(scene="autumn", subjects=[Subject(description="sunglasses")],
                                      color_palette=["#1864EC", "#EEEEEC"]),
              overlay={"headline": "Monokai Dimmed Sunnies", "price": "$17.00", "cta": "Shop now"})
    generated = CompositorGenerator({}).generate(job, tmp_path / "gen.png")
    creative = compose(generated, job, load_brand_kit(example_dir / "brand.yaml"), OverlaySpec(logo=True), tmp_path / "c.png")
    headline = next(r.box for r in creative.regions if r.slot == "headline")
    logo = next(p.box for p in creative.placed if p.role == "logo")
    assert logo.y0 < headline.y1 and logo.x0 > headline.x1 - 40  # the layout under test: the logo beside the headline

    def whole_image(*expected):
        args = ["qa", str(creative.path), "--brand", str(example_dir / "brand.yaml"), "--checks", "text", "--json",
                "--whole-image"] + [a for e in expected for a in ("--expect-text", e)]
        res = CliRunner().invoke(app, args)
        return json.loads(res.output)[str(creative.path)]["checks"][0]

    right = whole_image("Monokai Dimmed Sunnies", "$17.00", "Shop now")
    assert right["verdict"] == "pass", right["reasons"]
    assert whole_image("Monokai Dimmed Sunglasses")["verdict"] == "fail"
    assert whole_image("$19.00")["verdict"] == "fail"


def test_regions_read_the_same_whether_or_not_the_whole_image_is_read(tmp_path, example_dir):
    """The run reads a compositor creative's regions alone (its pasted sources are recorded, so forbidden words need
    no whole-image reading); `brandflow qa` on the published file had no such record and read the whole image in the
    same Tesseract call, which read the strip as sparse text: on the held-out photos campaign "Dog no. 01" read
    "O01" there and "01" in the run, and 8 of 103 creatives warned standalone that the run had passed (which way it
    errs depends on the creative; the point is that both read alike)."""
    from brandflow.compose.overlay import compose
    from brandflow.generators.compositor import CompositorGenerator
    from brandflow.imageio import load_rgb
    from brandflow.qa.text import read_image
    from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject
    from brandflow.spec import FormatSpec, OverlaySpec, load_brand_kit

    photo = Path(__file__).parent / "fixtures" / "reshot" / "dog5-00.jpg"
    job = Job(campaign="t", product_id="dog-01", product_title="Dog no. 01",
              format=FormatSpec(name="story", width=1080, height=1920), variant=0, seed=1, backend="compositor",
              references=[ReferenceImage(path=photo, role="primary_packshot", sha256=sha256_file(photo))],
              prompt=StructuredPrompt(scene="autumn", subjects=[Subject(description="dog")], color_palette=["#1864EC", "#EEEEEC"]),
              overlay={"headline": "Dog no. 01", "price": "$35.00", "cta": "Shop now"})
    generated = CompositorGenerator({}).generate(job, tmp_path / "gen.png")
    creative = compose(generated, job, load_brand_kit(example_dir / "brand.yaml"), OverlaySpec(logo=True), tmp_path / "c.png")
    image, regions = load_rgb(creative.path), list(creative.regions)
    alone = read_image(image, regions, full=False)
    with_full = read_image(image, regions, full=True)
    assert with_full.full is not None and alone.full is None
    for a, b in zip(alone.regions, with_full.regions):  # on this creative the shared call read "01" and "O01" alone
        assert [w.text for w in a[1]] == [w.text for w in b[1]]


def test_the_colours_the_prompt_asked_for_come_with_the_record(tmp_path, example_dir):
    """A creative whose floor is the autumn template's rust: held for it when only the brand kit counts, passed as in
    the run when its record (run folder, or a published manifest written before Creative.palette) or --palette says
    the prompt asked for rust; a malformed colour in a record is skipped, a malformed --palette is bad input."""
    img = np.empty((600, 600, 3), np.uint8)
    img[:150] = (0x18, 0x64, 0xEC)  # Saleor Blue, the kit's required primary
    img[150:] = (197, 106, 58)  # the tabletop as the compositor lights it
    path = tmp_path / "creative.png"
    Image.fromarray(img).save(path)
    sha = sha256_file(path)
    runner = CliRunner()
    brand = str(example_dir / "brand.yaml")

    def colour(*extra):
        res = runner.invoke(app, ["qa", str(path), "--brand", brand, "--checks", "colour", "--json", *extra])
        return res.exit_code, json.loads(res.output)[str(path)]["checks"][0] if res.exit_code in (0, 1) else res.output

    code, check = colour()
    assert code == 0 and check["verdict"] == "warn" and check["metrics"]["off_palette"] > 0.7
    code, check = colour("--palette", "#B4532A,#D9962B")
    assert check["verdict"] == "pass" and check["metrics"]["prompt_palette"] == ["#B4532A", "#D9962B"]
    code, message = colour("--palette", "rust")
    assert code == 2 and "rust" in message and "#RRGGBB" in message

    record = tmp_path / f"creative-{sha[:12]}.json"
    record.write_text(Creative(path=path, sha256=sha, width=600, height=600, file_type="png", bytes=1,
                               palette=["#1864EC", "#B4532A"]).model_dump_json())
    assert find_record(path).palette == ("#1864EC", "#B4532A")
    assert colour()[1]["verdict"] == "pass"
    assert colour("--whole-image")[1]["verdict"] == "pass"  # text read as any image; the colours still the prompt's

    record.unlink()
    manifest = tmp_path / "_runs" / "r1" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"jobs": [{"published": {"sha256": sha}, "prompt": {"color_palette": ["#B4532A", "rust"]},
                                              "attempts": [{"creative": {"regions": []}}]}]}))
    assert find_record(path).palette == ("#B4532A",)
    assert colour()[1]["verdict"] == "pass"


def test_a_record_found_beside_a_file_never_replaces_reading_its_pixels(tmp_path, gradient, draw_text, example_dir, make_ctx):
    """A record can name pasted sources whose kept readings are clean while the pixels say a forbidden word elsewhere:
    the run trusts its own record and reads each source; `brandflow qa` reads the whole image and finds the word."""
    from brandflow.qa.text import TextCheck
    from brandflow.records import Box, PlacedImage
    from brandflow.spec import load_brand_kit

    clean = tmp_path / "packshot.png"
    Image.fromarray(np.full((200, 200, 3), 230, np.uint8)).save(clean)
    img, regions = draw_text(gradient(600), [("price", "$34.00", (40, 480), 48, WHITE),
                                             ("extra", "Miracle cure", (40, 120), 56, WHITE)])
    path = tmp_path / "creative.png"
    Image.fromarray(img).save(path)
    sha = sha256_file(path)
    placed = [PlacedImage(path=clean, sha256=sha256_file(clean), role="primary_packshot", box=Box(x0=200, y0=200, x1=400, y1=400))]
    record = Creative(path=path, sha256=sha, width=600, height=600, file_type="png", bytes=1, regions=regions[:1], placed=placed)
    (tmp_path / f"creative-{sha[:12]}.json").write_text(record.model_dump_json())
    brand = load_brand_kit(example_dir / "brand.yaml")

    own = TextCheck().run(img, make_ctx(path=path, brand=brand, regions=tuple(regions[:1]), placed=tuple(placed)))
    assert own.verdict == "pass", own.reasons  # the run's view: its own record says nothing else was drawn

    res = CliRunner().invoke(app, ["qa", str(path), "--brand", str(example_dir / "brand.yaml"), "--checks", "text", "--json"])
    text = json.loads(res.output)[str(path)]["checks"][0]
    assert res.exit_code == 1 and text["verdict"] == "fail", text
    assert any("miracle" in r.lower() for r in text["reasons"]), text["reasons"]
