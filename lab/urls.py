"""Pages (not the API): the experiment report."""

from django.urls import path, re_path

from .views import experiments_page, experiments_plot

urlpatterns = [
    re_path(r"^experiments/?$", experiments_page, name="experiments"),
    path("experiments/plot/<slug:measure>.png", experiments_plot, name="experiments-plot"),
]
