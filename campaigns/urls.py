from django.urls import path

from . import views

app_name = "campaigns"
urlpatterns = [
    path("email/<str:token>/", views.view_in_browser, name="view_in_browser"),
]
