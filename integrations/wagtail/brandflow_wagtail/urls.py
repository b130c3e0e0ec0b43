"""Mount with ``path("api/brandflow/v1/", include("brandflow_wagtail.urls"))``, before Wagtail's catch-all."""

from django.urls import path

from brandflow_wagtail.api import api

urlpatterns = [path("", api.urls)]
