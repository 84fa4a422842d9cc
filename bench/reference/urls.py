from django.urls import path

from config.urls import urlpatterns as seatclock_urlpatterns

from .views import insert

urlpatterns = [path("bench/insert", insert, name="bench-insert"), *seatclock_urlpatterns]
