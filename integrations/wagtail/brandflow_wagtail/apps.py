from django.apps import AppConfig, apps
from django.core import checks


class BrandflowWagtailConfig(AppConfig):
    name = "brandflow_wagtail"
    verbose_name = "brandflow publishing"
    default_auto_field = "django.db.models.BigAutoField"  # fixed here: the site's DEFAULT_AUTO_FIELD must not alter the migration

    def ready(self):
        checks.register(check_dependencies)


def check_dependencies(app_configs=None, **kwargs):
    """``manage.py check`` fails clearly when the apps this one builds on are not installed."""
    needed = {
        "wagtail_write_api": "its API tokens authenticate brandflow (python manage.py create_api_token USER)",
        "wagtail.images": "brandflow publishes into the image library",
    }
    return [
        checks.Error(f"brandflow_wagtail needs {app!r} in INSTALLED_APPS: {why}", hint=f"add {app!r} to INSTALLED_APPS",
                     id="brandflow_wagtail.E001")
        for app, why in needed.items() if not apps.is_installed(app)
    ]
