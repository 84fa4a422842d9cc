from django.apps import AppConfig


class TimesyncConfig(AppConfig):
    name = "timesync"
    default_auto_field = "django.db.models.BigAutoField"
