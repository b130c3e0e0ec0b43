"""The model licence guard: which model makes a campaign's pixels, under which licence, and whether the campaign
may use it.

Every generator plugin declares the licence of the model its options select, through a ``model_licence(options)``
classmethod returning a :class:`~brandflow.records.ModelLicence` (no weights are loaded to answer). A campaign is
``usage: commercial`` unless it says ``usage: non-commercial``. A commercial campaign whose model's weights are
licensed for non-commercial use only (the FLUX Non-Commercial License of FLUX.2 [dev] and [klein] 9B) is refused by
``brandflow validate`` and ``brandflow run`` unless the operator records the commercial licence they hold in
``generator.licence`` (an identifier, e.g. the reference of a BFL self-hosted commercial licence); the manifest and
every published file's XMP keep that identifier.

The core names no backend: the declarations live beside each generator (``generators/*``).
"""

from __future__ import annotations

from typing import Any

from brandflow import registry
from brandflow.errors import SpecError
from brandflow.records import ModelLicence
from brandflow.spec import CampaignSpec

#: What a plugin that declares nothing is recorded as.
UNDECLARED = "LicenseRef-undeclared"


class LicenceError(SpecError):
    """A commercial campaign would run a model whose weights are licensed for non-commercial use only."""


def model_licence(backend: str, options: dict[str, Any]) -> ModelLicence:
    """The licence the ``backend`` plugin declares for the model ``options`` select.

    Returns:
        The plugin's :class:`ModelLicence`; for a plugin without ``model_licence`` one with
        ``licence='LicenseRef-undeclared'`` and ``commercial_use=None`` (unknown).

    Raises:
        UnknownPluginError: no such backend.
        GeneratorOptionsError: the options are invalid (the plugin validates them to know the model).
    """
    key = (backend, repr(sorted(options.items())))
    if key not in _cache:
        plugin = registry.load("generator", backend)
        declare = getattr(plugin, "model_licence", None)
        _cache[key] = declare(dict(options)) if declare is not None else ModelLicence(
            model=backend, model_id=backend, licence=UNDECLARED, commercial_use=None,
            note=f"the {backend!r} plugin declares no licence",
        )
    return _cache[key]


_cache: dict[tuple[str, str], ModelLicence] = {}


def check_licence(spec: CampaignSpec, spec_path: str = "<campaign>") -> ModelLicence:
    """The model licence of ``spec``'s generator, with the campaign's usage and recorded licence filled in.

    Args:
        spec: the campaign (``usage``, ``generator.backend``/``options``/``licence``).
        spec_path: the campaign file, for the error message.

    Returns:
        The :class:`ModelLicence` the manifest and the XMP record (``usage`` and ``recorded_licence`` set).

    Raises:
        LicenceError: ``usage: commercial`` (the default), the weights' licence allows no commercial use, and
            ``generator.licence`` is not set. The message names the model, its licence and both fixes.
    """
    declared = model_licence(spec.generator.backend, spec.generator.options)
    if spec.usage == "commercial" and declared.commercial_use is False and not spec.generator.licence:
        raise LicenceError(
            spec_path, "generator.licence",
            f"{declared.model} ({declared.model_id}) is licensed under {declared.licence}"
            f"{f' ({declared.url})' if declared.url else ''}, which does not allow commercial use, and this campaign is "
            "commercial (usage: commercial is the default)",
            "record the commercial licence you hold for these weights as generator.licence (an identifier, e.g. "
            "your Black Forest Labs self-hosted licence reference; the manifest and every file's XMP keep it), or "
            "use a model whose licence allows commercial use (flux2-klein with variant klein-4b is Apache-2.0; the "
            "bfl API backend runs under BFL's API terms), or set usage: non-commercial if the campaign is not "
            "commercial",
        )
    return declared.model_copy(update={"usage": spec.usage, "recorded_licence": spec.generator.licence})
