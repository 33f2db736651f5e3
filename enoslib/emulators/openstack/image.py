"""Glance v2: version discovery, image listing (name filter, paging) and show."""

from __future__ import annotations

from typing import Any

from .app import NOVA, Request, Response, Service, route
from .state import ApiError, iso


class Image(Service):
    """The Glance v2 API (``/image``)."""
    prefix = "/image"
    error_body = NOVA

    @route("GET", r"/")
    def versions(self, req: Request) -> Response:
        return Response(300, {"versions": [{"id": "v2.16", "status": "CURRENT",
                                            "links": [{"rel": "self", "href": f"{req.base_url}/image/v2/"}]}]})

    @route("GET", r"/v2/images")
    def images(self, req: Request) -> Response:
        found = [i for i in self.cloud.images.values() if _matches(i, req)]
        return Response(200, {"images": [self._view(i, req) for i in found], "first": "/v2/images",
                              "schema": "/v2/schemas/images"})

    @route("GET", r"/v2/images/(?P<iid>[^/]+)")
    def image(self, req: Request, iid: str) -> Response:
        image = self.cloud.images.get(iid)
        if image is None:
            raise ApiError(404, {"code": 404, "title": "Not Found", "message": f"No image found with ID {iid}"})
        return Response(200, self._view(image, req))

    def _view(self, image: dict[str, Any], req: Request) -> dict[str, Any]:
        t = iso(image.get("created", 0.0))
        return {"id": image["id"], "name": image["name"], "status": "active", "visibility": "public",
                "disk_format": "qcow2", "container_format": "bare", "min_disk": 0, "min_ram": 0,
                "size": 1 << 30, "tags": [], "owner": None, "protected": False, "os_hidden": False,
                "created_at": t, "updated_at": t, "self": f"/v2/images/{image['id']}",
                "file": f"/v2/images/{image['id']}/file", "schema": "/v2/schemas/image"}


def _matches(image: dict[str, Any], req: Request) -> bool:
    for key in ("name", "id", "status", "visibility"):
        wanted = req.q(key)
        if wanted is not None and str({"status": "active", "visibility": "public"}.get(key, image.get(key))) != wanted:
            return False
    return True
