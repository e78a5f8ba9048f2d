"""EventBridge rule targets with the parse memoized (cib_local_aws.eventbridge_targets): the same
event reaches the same target as moto's own parse makes it, and a second event parses nothing.

What a target receives by default is the whole event ("Amazon EventBridge targets": without an
input transformer, "the matched event is passed to the target"), as the broker's tap rule and
the chatops queue's rule read it.
"""

from __future__ import annotations

import json

from conftest import Aws

EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "Session started",
    "source": "cloud-iam-broker",
    "account": "123456789012",
    "time": 1796637600.0,  # moto keeps it as a number until it is sent
    "region": "us-east-1",
    "resources": [],
    "detail": {"session_id": "01J", "type": "started"},
    "ingestion-time": 1796637600.0,
}


def test_the_memoized_parse_gives_moto_s_own_answer_and_parses_each_expression_once() -> None:
    import jsonpath_ng.ext as ext
    from moto.events.utils import EventTemplateParser

    unpatched = getattr(ext.parse, "__wrapped__", ext.parse)
    before = EventTemplateParser.parse("", {}, dict(EVENT))
    from cib_local_aws import eventbridge_targets

    eventbridge_targets.apply()
    eventbridge_targets.apply()  # idempotent: one cache, not a cache of a cache
    assert ext.parse.__wrapped__ is unpatched
    first = EventTemplateParser.parse("", {}, dict(EVENT))
    misses = ext.parse.cache_info().misses
    second = EventTemplateParser.parse("", {}, dict(EVENT, id="another"))
    assert first == before
    assert second["id"] == "another" and second["detail"] == EVENT["detail"]
    assert ext.parse.cache_info().misses == misses, "the second event parsed its paths again"


def test_events_reach_a_rule_s_queue_whole_through_the_server(aws: Aws) -> None:
    events = aws.client("events", aws.admin)
    sqs = aws.client("sqs", aws.admin)
    events.create_event_bus(Name="cib-targets")
    queue = sqs.create_queue(QueueName="cib-targets-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="tap", EventBusName="cib-targets", EventPattern=json.dumps({"source": ["cloud-iam-broker"]}))
    events.put_targets(Rule="tap", EventBusName="cib-targets", Targets=[{"Id": "q", "Arn": arn}])
    sent = [
        {"Source": "cloud-iam-broker", "DetailType": kind, "Detail": json.dumps({"n": n}), "EventBusName": "cib-targets"}
        for n, kind in enumerate(["Session expired", "Session access revoked", "Session started"])
    ]
    assert events.put_events(Entries=sent[:2])["FailedEntryCount"] == 0
    assert events.put_events(Entries=sent[2:])["FailedEntryCount"] == 0
    got = []
    for _ in range(10):
        got += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if len(got) >= 3:
            break
    bodies = sorted((json.loads(m["Body"]) for m in got), key=lambda b: b["detail"]["n"])
    assert [(b["detail-type"], b["detail"]) for b in bodies] == [
        ("Session expired", {"n": 0}),
        ("Session access revoked", {"n": 1}),
        ("Session started", {"n": 2}),
    ]
    assert all(b["source"] == "cloud-iam-broker" for b in bodies)
