"""What djangorestframework-jwt checked, for the cut-over only: tokens in
"Authorization: JWT <token>", HS256-signed with SECRET_KEY. A project that
still has djangorestframework-jwt installed lists its
JSONWebTokenAuthentication instead; Debian does not package it."""
import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed


class LegacyJWTAuthentication(BaseAuthentication):
    """Accepts the old HS256 tokens while they are still alive."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "").split()
        if len(header) != 2 or header[0] != "JWT":
            return None
        try:
            payload = jwt.decode(header[1], settings.SECRET_KEY, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            raise AuthenticationFailed("invalid or expired token")
        try:
            user = get_user_model().objects.get(pk=payload["user_id"], is_active=True)
        except (KeyError, get_user_model().DoesNotExist):
            raise AuthenticationFailed("no such user")
        return user, payload

    def authenticate_header(self, request):
        return 'JWT realm="api"'
