"""Which publish key and which bytes an image holds, kept beside the image instead of in its tags.

One :class:`BrandflowAsset` row per image brandflow uploaded, written in the same transaction as the image. Editors
never see it (it is not in the admin and not among the image's tags), so re-tagging, renaming or moving an image
does not change what brandflow finds again. Deleting the image — in the admin, through any API or in code — deletes
its row with it (``on_delete=CASCADE``).
"""

from __future__ import annotations

from django.db import models
from wagtail.images import get_image_model_string


class BrandflowAsset(models.Model):
    image = models.OneToOneField(get_image_model_string(), on_delete=models.CASCADE, related_name="brandflow_asset")
    #: 16 to 64 hex digits naming the publish key: the client sends sha256(publish key)[:16]
    key = models.CharField(max_length=64, db_index=True)
    #: the uploaded file's sha256, checked against the bytes on upload
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "brandflow asset"

    def __str__(self) -> str:
        return f"image {self.image_id}: key {self.key}, sha256 {self.sha256[:12]}…"
