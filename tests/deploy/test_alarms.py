"""The alarms watch metrics the functions really emit, the same in both IaC flavours."""

from __future__ import annotations

import re

from handlers.aws import observability
from tests.deploy.conftest import ROOT
from tests.deploy.test_terraform import MODULE, label, parsed

EMITTED = set(re.findall(r'name="(\w+)"', (ROOT / "handlers/aws/observability.py").read_text()))


def sam_alarms(sam_template) -> dict[str, tuple[str, str, dict[str, str]]]:
    found = {}
    for name, resource in sam_template["Resources"].items():
        if resource["Type"] == "AWS::CloudWatch::Alarm" and "MetricName" in resource["Properties"]:
            props = resource["Properties"]
            dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
            found[name] = (props["Namespace"], props["MetricName"], dims)
    return found


def terraform_alarms() -> dict[str, tuple[str, str, dict[str, str]]]:
    found = {}
    for document in parsed(MODULE):
        for block in document.get("resource", []):
            for name, body in block.get('"aws_cloudwatch_metric_alarm"', {}).items():
                if "metric_name" in body:
                    dims = {label(k): label(v) for k, v in (body.get("dimensions") or {}).items()}
                    metric = (label(body["namespace"]), label(body["metric_name"]), dims)
                    found[label(name)] = metric
    return found


def test_every_pushpool_alarm_watches_a_metric_the_functions_emit(sam_template):
    watched = {m for ns, m, _ in sam_alarms(sam_template).values() if ns == "pushpool"}
    assert watched == {"RunsCrashedByInfrastructure", "DispatchLatency", "TickCompleted"}
    assert watched <= EMITTED
    assert observability.NAMESPACE == "pushpool"


def test_both_flavours_alarm_on_the_same_metrics_and_dimensions(sam_template):
    def comparable(alarms):
        return sorted(
            (ns, metric, sorted((k, v) for k, v in dims.items() if ns == "pushpool"))
            for ns, metric, dims in alarms.values()
        )

    sam = comparable(sam_alarms(sam_template))
    terraform = comparable(terraform_alarms())
    # The dead-letter alarm's queue name is a reference in both: compared by metric only.
    assert [s[:2] for s in sam] == [t[:2] for t in terraform]
    assert [s for s in sam if s[0] == "pushpool"] == [t for t in terraform if t[0] == "pushpool"]
