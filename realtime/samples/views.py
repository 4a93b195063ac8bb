from django.shortcuts import render


def index(request):
    # The socket examples on the page name the address the visitor used.
    scheme = "wss" if request.is_secure() else "ws"
    return render(request, "realtime/index.html", {"ws_base": f"{scheme}://{request.get_host()}"})


def mouse(request):
    return render(request, "realtime/mouse.html")


def echo(request):
    return render(request, "realtime/echo.html")
