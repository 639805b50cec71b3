from django.contrib import admin
from django.http import HttpResponse
from django.urls import path


def home(request):
    return HttpResponse("<!doctype html><title>weir django</title>"
                        "<h1>Django on weir</h1><p><a href='/admin/'>admin</a></p>")


urlpatterns = [
    path("", home),
    path("admin/", admin.site.urls),
]
