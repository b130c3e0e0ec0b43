"""brandflow-wagtail: the site side of brandflow's ``wagtail+https://`` publisher.

Install next to ``wagtail-write-api``, add ``"brandflow_wagtail"`` to ``INSTALLED_APPS`` and mount
``path("api/brandflow/v1/", include("brandflow_wagtail.urls"))``; see :mod:`brandflow_wagtail.api`.
"""

__version__ = "0.1.0"
