"""brandflow's image endpoints on a Wagtail site: upload with alt text, collection and tags; find by key; delete.

Mounted by the site at ``path("api/brandflow/v1/", include("brandflow_wagtail.urls"))``. Every request carries
``Authorization: Bearer <token>``, a wagtail-write-api token (``python manage.py create_api_token USER``); the
token's user must hold Wagtail's image permissions, checked the way the admin checks them.

Endpoints (JSON answers; errors are ``{"error": <code>, "message": <what to do>}``):

Identity. Which publish key and which bytes an image holds is stored in a
:class:`~brandflow_wagtail.models.BrandflowAsset` row (``image`` one-to-one, ``key``, ``sha256``) beside the image,
not in its tags: editors never see it, re-tagging or renaming an image does not lose it, and deleting the image
(in the admin or anywhere) deletes the row. An image "is brandflow's" when it has such a row.

``GET images/?key=<key id>``
    The images whose brandflow row has this key that the user may change or choose, oldest first:
    ``{"items": [{id, title, alt_text, collection, collection_path, tags, key, sha256, file_url, width, height,
    created_at}], "meta": {"total_count": n, "api": "brandflow-wagtail", "version": …}}``. ``tags`` are the image's
    Wagtail tags (the editors' and the campaign's); ``key`` and ``sha256`` come from the brandflow row.
``GET images/<id>/``
    One brandflow image the user may change or choose, or 404.
``POST images/`` (multipart)
    ``file`` (checked as the admin checks an upload: ``WAGTAILIMAGES_EXTENSIONS``, ``WAGTAILIMAGES_MAX_UPLOAD_SIZE``,
    ``WAGTAILIMAGES_MAX_IMAGE_PIXELS``, content matching the extension), ``title``, ``alt_text`` (stored as
    ``Image.description``, Wagtail's alt text), ``collection`` (a collection's name, or its path from the root
    such as ``Campaigns/Spring``; empty: the root collection), ``tags`` (repeated), ``key`` (16 to 64 hex digits
    naming the publish key) and ``sha256`` (the file's, verified here). The image, its brandflow row and its tags
    are written in one database transaction, so no image exists without its identity. Answers 201 with the image as above. A collection that does not exist is a 400 (collections are
    never created here); no "add" permission on the collection is a 403.
``DELETE images/<id>/``
    Deletes a brandflow image (one with a brandflow row; others answer 404: this endpoint never touches editors'
    images), if the user has the "delete" permission on it (owners with "add" permission may delete their own,
    as in the admin). 204.

Wagtail and library APIs this relies on (Wagtail 6.3 to 8.x):

- ``wagtail.images.get_image_model()``/``get_image_model_string()`` (the model the brandflow row points to; the
  migration follows ``WAGTAILIMAGES_IMAGE_MODEL``, which Wagtail does not make a Django swappable setting), and ``AbstractImage``'s fields ``title``, ``file``, ``description`` (since
  6.3), ``collection``, ``tags`` (django-taggit ``TaggableManager``: ``tags.add()``), ``uploaded_by_user``; ``_set_image_file_metadata()`` (file size and hash), as Wagtail's own image forms call it.
- ``wagtail.images.fields.WagtailImageField``, the admin's upload validation.
- The image permission policy (``wagtail.permissions.policy_registry.get_by_type(Image)``; before the registry,
  ``wagtail.images.permissions.permission_policy``): ``collections_user_has_permission_for(user, "add")``,
  ``instances_user_has_any_permission_for(user, ["change", "choose"])``,
  ``user_has_permission_for_instance(user, "delete", image)``.
- ``wagtail.models.Collection`` (a treebeard tree: ``get_first_root_node``, ``get_children``, ``get_ancestors``).
- ``wagtail.search.index.insert_or_update_object`` to index the tags, as the admin does after saving a form.
- wagtail-write-api 0.8: ``wagtail_write_api.auth.WagtailTokenAuth`` (a Django Ninja ``HttpBearer`` on its
  ``ApiToken`` model). Its own URLs need not be mounted for this app to work.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from ninja import File, Form, NinjaAPI, UploadedFile
from ninja.errors import ValidationError as NinjaValidationError
from wagtail_write_api.auth import WagtailTokenAuth

from brandflow_wagtail import __version__
from brandflow_wagtail.models import BrandflowAsset

log = logging.getLogger(__name__)

API_NAME = "brandflow-wagtail"   # in every listing's meta: the client tells this API from wagtail-write-api's
# Tags earlier builds of this app stored the identity in (BrandflowAsset holds it now): still refused as user tags,
# so such a tag never appears with another meaning.
RESERVED_TAGS = ("bf-key-", "bf-sha-")
_KEY = re.compile(r"^[0-9a-f]{16,64}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
MAX_TITLE = 255       # Image.title and Image.description are CharField(max_length=255)
MAX_TAG = 100         # taggit's Tag.name is CharField(max_length=100)

api = NinjaAPI(
    title=API_NAME, version=__version__, urls_namespace="brandflow_wagtail", auth=WagtailTokenAuth(),
    description="brandflow's image endpoints: upload with alt text, collection and tags; find by key; delete.",
)


class ApiError(Exception):
    """An answer with ``status`` and ``{"error": code, "message": message}``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@api.exception_handler(ApiError)
def _on_api_error(request, exc: ApiError):
    return api.create_response(request, {"error": exc.code, "message": exc.message}, status=exc.status)


@api.exception_handler(NinjaValidationError)
def _on_bad_request(request, exc: NinjaValidationError):
    said = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors)
    return api.create_response(request, {"error": "validation_error", "message": said, "details": exc.errors}, status=400)


# ----------------------------------------------------------------------------------------------- Wagtail access
def _image_model():
    from wagtail.images import get_image_model

    return get_image_model()


def _policy():
    """The image permission policy the admin uses (looked up per call: it is registered in ``ready()``)."""
    try:
        from wagtail.permissions import policy_registry
    except ImportError:  # Wagtail before the policy registry
        from wagtail.images.permissions import permission_policy

        return permission_policy
    return policy_registry.get_by_type(_image_model())


def _root():
    from wagtail.models import Collection

    return Collection.get_first_root_node()


def collection_path(collection) -> str:
    """``Campaigns/Spring`` (names from below the root down); the root itself is its own name (``Root``)."""
    if collection.is_root():
        return collection.name
    return "/".join(c.name for c in collection.get_ancestors(inclusive=True) if not c.is_root())


def resolve_collection(ref: str, user) -> Any:
    """The collection named ``ref`` (a unique name, or a path from the root); the root for an empty ``ref``.

    Raises:
        ApiError: 400 when no collection (or more than one) matches — collections are never created here.
    """
    from wagtail.models import Collection

    root = _root()
    ref = ref.strip()
    if not ref:
        return root
    named = list(Collection.objects.filter(name=ref)[:2])
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise ApiError(400, "ambiguous_collection",
                       f"more than one collection is named {ref!r}: give its path from the root, e.g. 'Parent/{ref}'")
    parts = [p.strip() for p in ref.strip("/").split("/") if p.strip()]
    if len(parts) > 1 and parts[0] == root.name:
        parts = parts[1:]
    node = root
    for part in parts:
        node = node.get_children().filter(name=part).first()
        if node is None:
            allowed = [collection_path(c) for c in _policy().collections_user_has_permission_for(user, "add")[:20]]
            raise ApiError(400, "collection_not_found", (
                f"there is no collection {ref!r} on this site; brandflow does not create collections. Create it in the "
                f"Wagtail admin (Settings → Collections) and give the API user's group the 'Add' image permission on it "
                f"(Settings → Groups), or publish to one of the collections this user may add images to: "
                f"{', '.join(repr(a) for a in allowed) or 'none'}"))
    return node


def _brandflow_images(queryset):
    """``queryset`` (of the image model) narrowed to brandflow's images, with what :func:`serialize` reads."""
    return (queryset.filter(brandflow_asset__isnull=False).select_related("collection", "brandflow_asset")
            .prefetch_related("tags"))


def serialize(image) -> dict[str, Any]:
    try:
        asset = image.brandflow_asset
    except ObjectDoesNotExist:
        asset = None
    return {
        "id": image.id,
        "title": image.title,
        "alt_text": image.description,
        "collection": image.collection.name,
        "collection_path": collection_path(image.collection),
        "tags": sorted(t.name for t in image.tags.all()),
        "key": asset.key if asset else None,
        "sha256": asset.sha256 if asset else None,
        "file_url": image.file.url if image.file else None,
        "width": image.width,
        "height": image.height,
        "created_at": image.created_at.isoformat() if image.created_at else None,
    }


def _check_key(key: str) -> str:
    if not _KEY.match(key):
        raise ApiError(400, "bad_key", f"key must be 16 to 64 lowercase hex digits (sha256 of the publish key), not {key!r}")
    return key


# ----------------------------------------------------------------------------------------------- endpoints
@api.get("/images/", summary="Images carrying a publish key")
def list_images(request, key: str):
    visible = _policy().instances_user_has_any_permission_for(request.auth, ["change", "choose"])
    images = _brandflow_images(visible).filter(brandflow_asset__key=_check_key(key)).order_by("id")
    items = [serialize(i) for i in images]
    return {"items": items, "meta": {"total_count": len(items), "api": API_NAME, "version": __version__}}


@api.get("/images/{int:image_id}/", summary="One image brandflow published")
def get_image(request, image_id: int):
    visible = _policy().instances_user_has_any_permission_for(request.auth, ["change", "choose"])
    image = _brandflow_images(visible).filter(pk=image_id).first()
    if image is None:
        raise ApiError(404, "not_found", f"no brandflow image with id {image_id} that this user may see")
    return serialize(image)


@api.post("/images/", response={201: dict}, summary="Upload an image with alt text, collection and tags")
def upload_image(
    request,
    file: UploadedFile = File(...),
    title: str = Form(...),
    key: str = Form(...),
    sha256: str = Form(...),
    alt_text: str = Form(""),
    collection: str = Form(""),
    tags: list[str] = Form([]),
):
    from wagtail.images.fields import WagtailImageField
    from wagtail.search import index as search_index

    user = request.auth
    _check_key(key)
    title, alt_text = title.strip(), alt_text.strip()
    if not title or len(title) > MAX_TITLE:
        raise ApiError(400, "bad_title", f"title must be 1 to {MAX_TITLE} characters, not {len(title)}")
    if len(alt_text) > MAX_TITLE:
        raise ApiError(400, "bad_alt_text", f"alt_text holds at most {MAX_TITLE} characters, not {len(alt_text)}")
    labels = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    for tag in labels:
        if len(tag) > MAX_TAG or "," in tag or tag.startswith(RESERVED_TAGS):
            raise ApiError(400, "bad_tag", f"tag {tag!r}: at most {MAX_TAG} characters, no commas, and not "
                                           f"starting with bf-key- or bf-sha- (reserved by brandflow)")

    target = resolve_collection(collection, user)
    if not _policy().collections_user_has_permission_for(user, "add").filter(pk=target.pk).exists():
        raise ApiError(403, "permission_denied", (
            f"user {user.get_username()!r} may not add images to collection {collection_path(target)!r}: give one of "
            f"the user's groups the 'Add' image permission on it or a parent (Wagtail admin, Settings → Groups)"))

    try:
        upload = WagtailImageField().clean(file)  # the admin's checks: format, extension, size, pixels
    except DjangoValidationError as e:
        raise ApiError(400, "invalid_image", f"{file.name}: {' '.join(e.messages)}") from None
    except Exception as e:  # noqa: BLE001 - Wagtail 8 lets Pillow's error escape for a file whose header looks
        # like an image but whose data is not (UnidentifiedImageError from check_image_pixel_size): still a 400
        raise ApiError(400, "invalid_image", f"{file.name} could not be read as an image: {e}") from None
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    if not _SHA.match(sha256) or digest.hexdigest() != sha256:
        raise ApiError(400, "sha256_mismatch", f"the uploaded file's sha256 is {digest.hexdigest()}, not {sha256!r}")

    Image = _image_model()
    image = Image(title=title, description=alt_text, collection=target, file=upload, uploaded_by_user=user)
    image._set_image_file_metadata()
    with transaction.atomic():  # the image, its identity and its tags together, or nothing
        image.save()
        BrandflowAsset.objects.create(image=image, key=key, sha256=sha256)
        if labels:
            image.tags.add(*labels)
    try:
        search_index.insert_or_update_object(image)  # the admin reindexes after the tags are set, too
    except Exception:  # noqa: BLE001 - the image is saved; a search backend hiccup must not look like a failed upload
        log.exception("brandflow_wagtail: could not index image %s", image.pk)
    log.info("brandflow_wagtail: %s uploaded image %s (%s) to %s", user.get_username(), image.pk, key,
             collection_path(target))
    image = _brandflow_images(Image.objects).get(pk=image.pk)
    return 201, serialize(image)


@api.delete("/images/{int:image_id}/", response={204: None}, summary="Delete an image brandflow published")
def delete_image(request, image_id: int):
    image = _image_model().objects.filter(pk=image_id, brandflow_asset__isnull=False).select_related("collection").first()
    if image is None:
        raise ApiError(404, "not_found", f"no brandflow image with id {image_id} (deleted, or not uploaded by brandflow)")
    if not _policy().user_has_permission_for_instance(request.auth, "delete", image):
        raise ApiError(403, "permission_denied", (
            f"user {request.auth.get_username()!r} may not delete image {image_id} in collection "
            f"{collection_path(image.collection)!r}: give one of the user's groups the 'Edit' image permission on it "
            f"(Wagtail treats delete as edit; an uploader with 'Add' may delete its own images)"))
    image.delete()  # its BrandflowAsset row goes with it (on_delete=CASCADE)
    return 204, None
