"""One protected resource, seen two ways."""
from rest_framework.decorators import api_view, authentication_classes
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication


@api_view(["GET"])
def me(request):
    """The caller as the token says (JWTStatelessUserAuthentication): no
    database query, so it works for users who exist only in authserver."""
    return Response({"user_id": request.user.id, "username": request.auth.get("username")})


@api_view(["GET"])
@authentication_classes([JWTAuthentication])
def me_from_db(request):
    """The caller as a row of Django's user table (JWTAuthentication), for
    APIs whose users are still in Django's database: user_id is their pk."""
    return Response({"user_id": request.user.pk, "username": request.user.username})
