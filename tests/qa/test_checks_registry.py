"""The four built-in checks load through the plugin registry and run through run_checks."""

from __future__ import annotations

import numpy as np
from PIL import Image

from brandflow import registry
from brandflow.qa.base import Check, run_checks
from brandflow.qa.colour import ColourCheck
from brandflow.qa.format import FormatCheck
from brandflow.qa.identity import IdentityCheck
from brandflow.qa.text import TextCheck
from brandflow.spec import FormatSpec


def test_builtin_checks_load_from_entry_points():
    for name, cls in {"format": FormatCheck, "text": TextCheck, "colour": ColourCheck, "identity": IdentityCheck}.items():
        assert registry.load("check", name) is cls
        check = cls()
        assert isinstance(check, Check) and check.name == name


def test_run_checks_on_a_flat_brand_creative(tmp_path, make_ctx):
    img = np.full((1080, 1080, 3), (0x1A, 0x63, 0xEC), np.uint8)
    img[800:] = 255
    path = tmp_path / "c.png"
    Image.fromarray(img).save(path)
    fmt = FormatSpec(name="square", width=1080, height=1080)
    res = run_checks(img, make_ctx(path=path, format=fmt), ["format", "text", "colour", "identity"])
    assert [c.check for c in res.checks] == ["format", "text", "colour", "identity"]
    assert res.verdict == "pass", res.reasons
    assert all(c.seconds >= 0 for c in res.checks)
