"""The example API's routes."""
from django.urls import path

from . import views

urlpatterns = [
    path("api/me/", views.me),
    path("api/db-me/", views.me_from_db),
]
