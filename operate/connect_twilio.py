"""Connect a Twilio account to a deployed stack: Event Streams sink(s) and subscriptions to the three types.

    make connect ARGS="--stack-name voice-insights --sink kinesis --dry-run"
    make connect ARGS="--stack-name voice-insights --sink kinesis --external-id $EXTERNAL_ID"
    make connect ARGS="--outputs-file outputs.json --sink webhook --validate DG…=<test id>"

Twilio credentials come from the environment: TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN, or with
TWILIO_API_KEY and TWILIO_API_SECRET. --stack-name reads the stack with boto3: AWS_DEFAULT_REGION (or a
profile's region) and AWS credentials. Idempotent: sinks and subscriptions are found by their
description and created only when missing; a missing event type is added to an existing subscription.

Twilio's handshake: a new sink is ``initialized`` and Twilio sends it a test event; the sink becomes
``active`` once the owner posts that event's ``test_id`` to ``/v1/Sinks/{sid}/Validate``, and only an
active sink can be subscribed. The stack logs the test id ("Twilio sink test event received"); pass it
with ``--validate SINK_SID=TEST_ID`` and run again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twilio.rest import Client

from voice_insights.domain.models import EventType

EVENT_TYPES = [
    EventType.CONFERENCE_SUMMARY_COMPLETE.value,
    EventType.CONFERENCE_SUMMARY_PARTIAL.value,
    EventType.PARTICIPANT_SUMMARY_COMPLETE.value,
]
SCHEMA_VERSION = 2  # v1 and v2 carry the same fields; 2 is the current one
WEBHOOK_OUTPUTS = {
    EventType.CONFERENCE_SUMMARY_COMPLETE.value: "ConferenceSummaryCompleteWebhookUrl",
    EventType.CONFERENCE_SUMMARY_PARTIAL.value: "ConferenceSummaryPartialWebhookUrl",
    EventType.PARTICIPANT_SUMMARY_COMPLETE.value: "ParticipantSummaryCompleteWebhookUrl",
}


class ConnectError(RuntimeError):
    pass


@dataclass(frozen=True)
class SinkPlan:
    description: str
    sink_type: str
    configuration: dict[str, Any]
    event_types: list[str]


def plan_sinks(
    outputs: dict[str, str], sink: str, stack_name: str, external_id: str = "", webhook_base_url: str = ""
) -> list[SinkPlan]:
    """What should exist in Twilio for this stack: one Kinesis sink, or one webhook sink per event type."""
    if sink == "kinesis":
        missing = [name for name in ("EventStreamArn", "TwilioKinesisSinkRoleArn") if name not in outputs]
        if missing:
            hint = "deploy with CreateTwilioKinesisRole=true and TwilioExternalId"
            raise ConnectError(f"stack outputs lack {', '.join(missing)}: {hint}")
        if not external_id:
            raise ConnectError("--external-id is required: the TwilioExternalId the stack was deployed with")
        configuration = {
            "arn": outputs["EventStreamArn"],
            "role_arn": outputs["TwilioKinesisSinkRoleArn"],
            "external_id": external_id,
        }
        return [SinkPlan(f"voice-insights-events {stack_name} kinesis", "kinesis", configuration, EVENT_TYPES)]
    plans = []
    for event_type, output in WEBHOOK_OUTPUTS.items():
        url = outputs[output]
        if webhook_base_url:  # a custom domain: the same route under the public base URL
            url = webhook_base_url.rstrip("/") + "/events/" + url.rsplit("/events/", 1)[1]
        short = event_type.removeprefix("com.twilio.voice.insights.")
        configuration = {"destination": url, "method": "POST", "batch_events": True}
        plans.append(
            SinkPlan(f"voice-insights-events {stack_name} webhook {short}", "webhook", configuration, [event_type])
        )
    return plans


@dataclass
class Connector:
    client: Client
    dry_run: bool = False
    say: Callable[[str], None] = print
    actions: list[str] = field(default_factory=list)

    def apply(self, plans: list[SinkPlan], validations: dict[str, str] | None = None) -> list[str]:
        """Create what is missing; returns the actions taken (or, in a dry run, that would be)."""
        validations = validations or {}
        existing = {sink.description: sink for sink in self.client.events.v1.sinks.list()}
        for plan in plans:
            sink = existing.get(plan.description)
            if sink is None:
                sink = self._do(f"create {plan.sink_type} sink '{plan.description}'", self._create_sink, plan)
                if sink is None:  # dry run
                    self._do(f"subscribe it to {', '.join(plan.event_types)} once it is validated", None)
                    continue
            elif not _same_destination(sink.sink_configuration or {}, plan.configuration):
                self.say(
                    f"sink {sink.sid} '{plan.description}' exists with another configuration: "
                    "Twilio cannot change a sink's configuration; delete it in Twilio and run again"
                )
                continue
            if sink.status != "active" and sink.sid in validations:
                self._do(f"validate sink {sink.sid} with test id {validations[sink.sid]}", self._validate, sink.sid,
                         validations[sink.sid])  # fmt: skip
                sink = self.client.events.v1.sinks(sink.sid).fetch() if not self.dry_run else sink
            if sink.status != "active" and not (self.dry_run and sink.sid in validations):
                self.say(_validation_help(sink.sid, plan))
                continue
            self._subscribe(sink.sid, plan)
        return self.actions

    def _subscribe(self, sink_sid: str, plan: SinkPlan) -> None:
        subscriptions = self.client.events.v1.subscriptions.list(sink_sid=sink_sid)
        subscription = next((s for s in subscriptions if s.description == plan.description), None)
        if subscription is None:
            types = [{"type": t, "schema_version": SCHEMA_VERSION} for t in plan.event_types]
            self._do(
                f"subscribe sink {sink_sid} to {', '.join(plan.event_types)}",
                lambda: self.client.events.v1.subscriptions.create(
                    description=plan.description, sink_sid=sink_sid, types=types
                ),
            )
            return
        events = self.client.events.v1.subscriptions(subscription.sid).subscribed_events
        subscribed = {event.type for event in events.list()}
        for event_type in plan.event_types:
            if event_type not in subscribed:
                self._do(
                    f"add {event_type} to subscription {subscription.sid}",
                    lambda t=event_type: events.create(type=t, schema_version=SCHEMA_VERSION),
                )

    def _create_sink(self, plan: SinkPlan) -> Any:
        return self.client.events.v1.sinks.create(
            description=plan.description, sink_configuration=plan.configuration, sink_type=plan.sink_type
        )

    def _validate(self, sink_sid: str, test_id: str) -> None:
        result = self.client.events.v1.sinks(sink_sid).sink_validate.create(test_id=test_id)
        if result.result != "valid":
            raise ConnectError(f"Twilio did not validate sink {sink_sid} with test id {test_id}: {result.result}")

    def _do(self, action: str, call: Callable[..., Any] | None, *args: Any) -> Any:
        self.actions.append(action)
        self.say(("would " if self.dry_run else "") + action)
        if self.dry_run or call is None:
            return None
        return call(*args)


def _same_destination(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    # Compare where the events go, not every field: Twilio need not echo secrets such as external_id.
    keys = ("arn", "role_arn") if "arn" in wanted else ("destination", "method")
    return all(existing.get(key) == wanted[key] for key in keys)


def _validation_help(sink_sid: str, plan: SinkPlan) -> str:
    function = "UnroutedEventsFunction" if plan.sink_type == "kinesis" else "the event type's processing function"
    return (
        f"sink {sink_sid} is waiting for validation: find the test id Twilio sent it in {function}'s logs "
        f"(.venv-sam/bin/sam logs --stack-name <stack> --name <function> --filter 'sink test event'), "
        f"then run again with --validate {sink_sid}=<test id>"
    )


def stack_outputs(stack_name: str) -> dict[str, str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

    try:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (NoRegionError, NoCredentialsError, ProfileNotFound) as error:
        raise ConnectError(
            f"{error} Set AWS_DEFAULT_REGION (boto3 does not read AWS_REGION) and AWS credentials (AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or pass the outputs with --outputs-file instead"
        ) from None
    except (ClientError, BotoCoreError) as error:
        raise ConnectError(f"cannot read the outputs of stack {stack_name!r}: {error}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def twilio_client_from_env(environ: Any = os.environ) -> Client:
    account = environ.get("TWILIO_ACCOUNT_SID")
    if not account:
        raise ConnectError("set TWILIO_ACCOUNT_SID, and TWILIO_AUTH_TOKEN or TWILIO_API_KEY + TWILIO_API_SECRET")
    if environ.get("TWILIO_API_KEY"):
        return Client(environ["TWILIO_API_KEY"], environ.get("TWILIO_API_SECRET"), account)
    if not environ.get("TWILIO_AUTH_TOKEN"):
        raise ConnectError("set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY + TWILIO_API_SECRET")
    return Client(account, environ["TWILIO_AUTH_TOKEN"])


def main(argv: list[str] | None = None, client: Client | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack-name", help="read the outputs of this deployed stack (AWS credentials needed)")
    source.add_argument("--outputs-file", help="stack outputs as JSON: {OutputKey: OutputValue} or describe-stacks'")
    parser.add_argument("--sink", choices=["kinesis", "webhook"], required=True)
    parser.add_argument("--external-id", default=os.environ.get("TWILIO_EXTERNAL_ID", ""))
    parser.add_argument("--webhook-base-url", default="", help="the stack's WebhookPublicBaseUrl, if set")
    parser.add_argument("--validate", action="append", default=[], metavar="SINK_SID=TEST_ID")
    parser.add_argument("--dry-run", action="store_true", help="say what would be created, create nothing")
    args = parser.parse_args(argv)
    try:
        outputs = stack_outputs(args.stack_name) if args.stack_name else _read_outputs(args.outputs_file)
        name = args.stack_name or os.path.splitext(os.path.basename(args.outputs_file))[0]
        plans = plan_sinks(outputs, args.sink, name, args.external_id, args.webhook_base_url)
        validations = dict(item.split("=", 1) for item in args.validate)
        connector = Connector(client or twilio_client_from_env(), dry_run=args.dry_run)
        actions = connector.apply(plans, validations)
    except ConnectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(actions)} change(s){' planned' if args.dry_run else ''}" if actions else "nothing to change")
    return 0


def _read_outputs(path: str) -> dict[str, str]:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError) as error:
        raise ConnectError(f"cannot read stack outputs from {path}: {error}") from None
    if isinstance(data, list):  # aws cloudformation describe-stacks --query 'Stacks[0].Outputs'
        return {o["OutputKey"]: o["OutputValue"] for o in data}
    return {str(k): str(v) for k, v in data.items()}


if __name__ == "__main__":
    sys.exit(main())
