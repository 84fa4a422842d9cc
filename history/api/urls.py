from django.urls import re_path

from .views import HistoryListView

urlpatterns = [re_path(r"^api/history/?$", HistoryListView.as_view(), name="history-list")]
