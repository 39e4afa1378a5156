"""One view that enqueues a @task, as a web request would."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from reports.tasks import add


def enqueue_add(request: HttpRequest) -> JsonResponse:
    result = add.enqueue(int(request.GET["a"]), int(request.GET["b"]))
    return JsonResponse({"id": result.id, "status": str(result.status)})


urlpatterns = [path("enqueue-add/", enqueue_add)]
