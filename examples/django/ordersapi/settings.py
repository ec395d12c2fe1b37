"""A minimal Django REST framework API that verifies authserver's access
tokens with djangorestframework-simplejwt: RS256 against authserver's JWKS,
no shared secret. See docs/migrating-from-django.md.

What differs per deployment comes from the environment:
DJANGO_SECRET_KEY, DJANGO_DB (the SQLite file), AUTHSERVER_ISSUER (the
issuer of the tokens, e.g. https://auth.example.com) and, during the
cut-over only, ACCEPT_LEGACY_JWT=1.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
]
MIDDLEWARE = []
ROOT_URLCONF = "ordersapi.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", BASE_DIR / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

AUTHSERVER_ISSUER = os.environ["AUTHSERVER_ISSUER"]

# [simplejwt]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "JWK_URL": AUTHSERVER_ISSUER + "/.well-known/jwks.json",
    "ISSUER": AUTHSERVER_ISSUER,
    "AUDIENCE": "orders-api",
}
# [/simplejwt]

# [cut-over]
# During the cut-over only: old clients still send "Authorization: JWT
# <token>" with the tokens djangorestframework-jwt signed with SECRET_KEY;
# simplejwt ignores that prefix, so the old class after it sees them.
if os.environ.get("ACCEPT_LEGACY_JWT") == "1":
    REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"].append(
        "ordersapi.legacy.LegacyJWTAuthentication",  # or rest_framework_jwt's JSONWebTokenAuthentication
    )
# [/cut-over]
