from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("email/<str:token>/", views.view_in_browser, name="view_in_browser"),
    path("c/<str:token>/", views.click, name="click"),
    path("o/<str:token>.gif", views.open_image, name="open"),
    path("hooks/ses/", views.ses_hook, name="ses_hook"),
]
