from django.urls import path

from reports import views

urlpatterns = [path("", views.create), path("<int:pk>/", views.show)]
