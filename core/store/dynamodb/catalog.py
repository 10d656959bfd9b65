"""Flows, deployments, tokens and the small cache on DynamoDB.

None of these is on the hot path of a run, so they favour simple shapes:
deployments share one partition (listing them is one query; the tick reads
only those whose schedule needs extending, through the ``scheduled`` index), names are claimed by name items, tokens are found by the hash
of their secret, and cache entries are single items.
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice

from core.errors import Conflict, NotFound
from core.models import Deployment, Flow, Token
from core.ports import ScheduleProgress
from core.store.dynamodb import schema
from core.store.dynamodb.codec import get_s, n, names, pack, parse_stamp, s, stamp, unpack
from core.store.dynamodb.items import deployment_item, deployment_name_item
from core.store.dynamodb.ops import Exists, delete, put_new, put_versioned
from core.store.dynamodb.table import Op, Table


class Catalog:
    """Flows, deployments (with their schedule progress), API tokens and the cache."""

    def __init__(self, table: Table) -> None:
        self._table = table

    # -- flows ------------------------------------------------------------------
    def ensure_flow(self, flow: Flow) -> Flow:
        """Return the flow named ``flow.name``, creating it if there is none.

        The common case (the flow exists) is one read.  Creation claims the
        name and the id in one transaction; losing a race to another creator
        returns the winner's flow.
        """
        existing = self._table.get(schema.key(schema.FLOW_NAMES, flow.name))
        if existing is not None:
            return unpack(existing, Flow)
        doc = pack(flow)
        try:
            self._table.transact(
                [
                    Op(
                        {
                            "Put": {
                                "Item": {**schema.key(schema.FLOW_NAMES, flow.name), "doc": doc},
                                "ConditionExpression": "attribute_not_exists(#pk)",
                                "ExpressionAttributeNames": {"#pk": "pk"},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            }
                        },
                        Exists,
                    ),
                    put_new(
                        {**schema.key(schema.flow_pk(flow.id), schema.FLOW_SK), "doc": doc},
                        Conflict(f"a flow with id {flow.id!r} already exists"),
                    ),
                ]
            )
        except Exists as exc:
            if exc.item is None:
                raise Conflict(f"flow {flow.name!r} could not be created; retry") from exc
            return unpack(exc.item, Flow)
        return flow

    def get_flow(self, flow_id: str) -> Flow:
        item = self._table.get(schema.key(schema.flow_pk(flow_id), schema.FLOW_SK))
        if item is None:
            raise NotFound(f"flow with id {flow_id!r} not found")
        return unpack(item, Flow)

    # -- deployments --------------------------------------------------------------
    def create_deployment(self, deployment: Deployment) -> None:
        self._table.transact(
            [
                put_new(
                    deployment_item(deployment),
                    Conflict(f"a deployment with id {deployment.id!r} already exists"),
                ),
                put_new(deployment_name_item(deployment), _duplicate(deployment)),
            ]
        )

    def get_deployment(self, deployment_id: str) -> Deployment:
        item = self._table.get(schema.key(schema.DEPLOYMENTS, deployment_id))
        if item is None:
            raise NotFound(f"deployment with id {deployment_id!r} not found")
        return unpack(item, Deployment)

    def find_deployment(self, flow_name: str, name: str) -> Deployment:
        claim = self._table.get(schema.key(schema.deployment_name_pk(flow_name), name))
        if claim is None:
            raise NotFound(f"deployment {flow_name}/{name} not found")
        return self.get_deployment(get_s(claim, "dep_id") or "")

    def list_deployments(self, *, pool_name: str | None = None) -> list[Deployment]:
        params: dict[str, object] = {
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeValues": {":pk": s(schema.DEPLOYMENTS)},
            "ConsistentRead": True,
        }
        if pool_name is not None:
            params["FilterExpression"] = "#pool_name = :pool"
            params["ExpressionAttributeValues"] = {
                ":pk": s(schema.DEPLOYMENTS),
                ":pool": s(pool_name),
            }
        params["ExpressionAttributeNames"] = names("#pk", str(params.get("FilterExpression", "")))
        found = [unpack(item, Deployment) for item in self._table.query(**params)]
        return sorted(found, key=lambda d: (d.flow_name, d.name))

    def update_deployment(self, deployment: Deployment) -> Deployment:
        """A version-checked put; a rename also moves the name claim, atomically."""
        stored = self.get_deployment(deployment.id)
        new = deployment.model_copy(update={"version": deployment.version + 1})
        what = f"deployment {deployment.flow_name}/{deployment.name}"
        write = put_versioned(deployment_item(new), expected=deployment.version, what=what)
        if (stored.flow_name, stored.name) == (deployment.flow_name, deployment.name):
            self._table.conditional("put_item", write.on_fail, **write.request["Put"])
            return new
        old_claim = schema.key(schema.deployment_name_pk(stored.flow_name), stored.name)
        self._table.transact(
            [write, delete(old_claim), put_new(deployment_name_item(new), _duplicate(deployment))]
        )
        return new

    def deployments_to_schedule(self, before: datetime, *, limit: int) -> list[ScheduleProgress]:
        """One query of the sparse ``scheduled`` index's deployment partition.

        The index is eventually consistent: a deployment written a moment ago
        may show its previous progress, which costs at most a repeated
        ``create_run`` (answered False) and a ``mark_materialised`` refused
        by its version check.
        """
        items = self._table.query(
            IndexName=schema.SCHEDULED_INDEX,
            KeyConditionExpression="#sched_q = :deployments AND #sched_t < :before",
            ExpressionAttributeNames={"#sched_q": "sched_q", "#sched_t": "sched_t"},
            ExpressionAttributeValues={
                ":deployments": s(schema.DEPLOYMENT_SCHEDULES),
                ":before": s(stamp(before)),
            },
            Limit=max(limit, 1),
        )
        found = []
        for item in islice(items, max(limit, 0)):
            until = get_s(item, "sched_t")
            found.append(
                ScheduleProgress(
                    deployment=unpack(item, Deployment),
                    materialised_until=(
                        None if until in (None, schema.UNMATERIALISED) else parse_stamp(until)
                    ),
                )
            )
        return found

    def mark_materialised(self, deployment: Deployment, *, until: datetime | None) -> bool:
        """Sets (or removes) only the index attributes, conditioned on the version."""
        key = schema.key(schema.DEPLOYMENTS, deployment.id)
        condition = "#version = :version"
        values = {":version": n(deployment.version)}
        if until is None:
            change = "REMOVE #sched_q, #sched_t"
        else:
            change = "SET #sched_q = :deployments, #sched_t = :until"
            values |= {":deployments": s(schema.DEPLOYMENT_SCHEDULES), ":until": s(stamp(until))}
        try:
            self._table.conditional(
                "update_item",
                lambda _stored: _Changed(),
                Key=key,
                UpdateExpression=change,
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    "#version": "version",
                    "#sched_q": "sched_q",
                    "#sched_t": "sched_t",
                },
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="NONE",
            )
        except _Changed:
            return False
        return True

    def delete_deployment(self, deployment: Deployment) -> None:
        what = f"deployment {deployment.flow_name}/{deployment.name}"
        try:
            stored = self.get_deployment(deployment.id)
        except NotFound as exc:
            raise NotFound(f"{what} not found") from exc
        self._table.transact(
            [
                delete(
                    schema.key(schema.DEPLOYMENTS, deployment.id), NotFound(f"{what} not found")
                ),
                delete(schema.key(schema.deployment_name_pk(stored.flow_name), stored.name)),
            ]
        )

    # -- tokens and cache -----------------------------------------------------------
    def put_token(self, token: Token) -> None:
        item = {
            **schema.key(schema.token_pk(token.secret_hash), schema.ITEM_SK),
            "doc": pack(token),
        }
        self._table.call("put_item", TableName=self._table.name, Item=item)

    def find_token(self, secret_hash: str) -> Token | None:
        item = self._table.get(schema.key(schema.token_pk(secret_hash), schema.ITEM_SK))
        return None if item is None else unpack(item, Token)

    def get_cached(self, key: str) -> str | None:
        item = self._table.get(schema.key(schema.cache_pk(key), schema.ITEM_SK))
        return None if item is None else get_s(item, "value")

    def put_cached(self, key: str, value: str) -> None:
        item = {**schema.key(schema.cache_pk(key), schema.ITEM_SK), "value": s(value)}
        self._table.call("put_item", TableName=self._table.name, Item=item)


class _Changed(Exception):
    """The deployment was written or deleted since the caller read it."""


def _duplicate(deployment: Deployment) -> Conflict:
    return Conflict(f"deployment {deployment.flow_name}/{deployment.name} already exists")
