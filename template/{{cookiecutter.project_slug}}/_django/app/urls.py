"""The service's URLs{% if cookiecutter.example_jobs == "yes" %}: the reports app's{% endif %}."""

from django.urls import URLPattern, URLResolver{% if cookiecutter.example_jobs == "yes" %}, include, path{% endif %}

urlpatterns: list[URLPattern | URLResolver] = [{% if cookiecutter.example_jobs == "yes" %}path("reports/", include("reports.urls")){% endif %}]
