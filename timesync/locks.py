"""Row locks on nodes (see :mod:`core.locks`)."""

from __future__ import annotations

from core.locks import lock_one, lock_rows

from .errors import InvalidServerId
from .models import ServerNode
from .selectors import parse_server_id


def node_lock(server_id: object) -> ServerNode:
    """The node ``server_id``, locked for the rest of the transaction; ``InvalidServerId`` if
    there is none (checked before the database is asked), ``LockTimeout`` past the lock timeout."""
    key = parse_server_id(server_id)
    node = lock_one(ServerNode.objects.filter(pk=key)) if key is not None else None
    if node is None:
        raise InvalidServerId(server_id)
    return node


def nodes_lock() -> list[ServerNode]:
    """Every node, locked, in id order (so two concurrent scenario applications cannot interleave)."""
    return lock_rows(ServerNode.objects.all())
