from django.shortcuts import render


def index(request):
    return render(request, "realtime/index.html")


def mouse(request):
    return render(request, "realtime/mouse.html")


def echo(request):
    return render(request, "realtime/echo.html")
