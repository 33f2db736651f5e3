"""The only module importing python-blazarclient: leases and host allocations, with retries."""

from __future__ import annotations

from typing import Any

from enoslib.errors import EnosMissingExtraError
from enoslib.infra.enos_openstack.client import OpenstackClient

#: lease states in which a lease of the configured name is reused
LIVE_STATES = ("CREATING", "PENDING", "STARTING", "UPDATING", "ACTIVE")


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a Blazar error (None if unknown)."""
    code = getattr(exc, "status_code", None) or (getattr(exc, "kwargs", None) or {}).get("code") \
        or getattr(exc, "code", None)
    return code if isinstance(code, int) else None


class BlazarClient:
    """Blazar over the same keystone session as the OpenStack client (same retries)."""

    def __init__(self, openstack: OpenstackClient) -> None:
        try:
            from blazarclient.client import Client
        except ImportError:
            raise EnosMissingExtraError("blazarclient", "chameleon", feature="the Chameleon bare-metal provider") \
                from None
        self.os = openstack
        self.api = Client(session=openstack.session(), service_type="reservation", region_name=openstack.region())

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.os.call(_with_status(fn), *args, **kwargs)

    def leases(self) -> list[dict[str, Any]]:
        return self.call(self.api.lease.list)

    def lease(self, lease_id: str) -> dict[str, Any] | None:
        try:
            return self.call(self.api.lease.get, lease_id)
        except Exception as exc:  # noqa: BLE001
            if status_of(exc) == 404:
                return None
            raise

    def create_lease(self, name: str, start: str, end: str, reservations: list[dict[str, Any]]) -> dict[str, Any]:
        # not retried: a lost answer is found by name by the caller
        return _with_status(self.api.lease.create)(name, start, end, reservations, [])

    def delete_lease(self, lease_id: str) -> None:
        try:
            self.call(self.api.lease.delete, lease_id)
        except Exception as exc:  # noqa: BLE001
            if status_of(exc) != 404:
                raise

    def hosts(self) -> list[dict[str, Any]]:
        return self.call(self.api.host.list)

    def allocations(self) -> list[dict[str, Any]]:
        return self.call(self.api.allocation.list, "os-hosts")


class BlazarError(Exception):
    """A Blazar error answer with its HTTP status (``status_code``, as openstacksdk's)."""

    def __init__(self, message: str, status_code: int | None) -> None:
        super().__init__(message)
        self.status_code = status_code


def _with_status(fn: Any) -> Any:
    """``fn`` raising :class:`BlazarError` (HTTP status set, so retries see 5xx) for Blazar's errors."""
    from blazarclient.exception import BlazarClientException

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BlazarClientException as exc:
            raise BlazarError(str(exc), status_of(exc)) from None
    return wrapped
