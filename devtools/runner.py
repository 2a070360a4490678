"""The whole stack on 127.0.0.1: moto server with the template's data resources, every built function
under its own Lambda Runtime Interface Emulator, a poller per stream trigger and shard, the lake's local Firehose
(devtools.lake), the webhook gateway and the read API's gateway (its own port; its IAM authorisation is not checked
locally, and its answers say so). The pollers and gateways invoke what SAM's transform of the template wires
(devtools.triggers): each mapping's function or alias, each integration's, and the gateways only what the template's
permissions allow. Each function's own AWS calls are checked against its execution role (devtools/local_iam.py).
``LocalRunner`` starts them in that order and stops everything it started, in reverse, on any exit
(including a failed start, an interrupt or a crashed function).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from botocore.exceptions import ClientError

from devtools.cfn import Resolver, create_data_resources, function_environment, load_template, local_client
from devtools.gateway import LocalGateway
from devtools.lake import LAKE_DIR, LocalFirehose
from devtools.lambda_events import LOCAL_WEBHOOK_SECRET
from devtools.lambda_rie import BUILD_DIR, LambdaEmulator, built_function
from devtools.local_iam import UnsupportedPolicy, function_credentials, function_principals
from devtools.loopback import free_port
from devtools.moto_server import MotoServer, aws_env
from devtools.pollers import StreamPoller, shard_ids
from devtools.sam_transform import TransformFailed, transformed_template
from devtools.triggers import READ_API, TemplateRefused, api_routes, stream_triggers

ROOT = Path(__file__).resolve().parents[1]


# The read API's authorisation (ReadApiAuth: IAM or an API key) is API Gateway's: nothing local checks it.
LOCAL_AUTH_NOTE = "not checked locally (deployed: AWS_IAM, or x-api-key with ReadApiAuth=api-key)"


def read_cursor_key(endpoint_url: str) -> dict[str, Any]:
    """The read API's cursor key (template: ReadCursorKey, a KMS HMAC key), which cfn.py does not create."""
    key = local_client("kms", endpoint_url).create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    arn = key["KeyMetadata"]["Arn"]
    return {"type": "AWS::KMS::Key", "ref": key["KeyMetadata"]["KeyId"], "attrs": {"Arn": arn}}


class NotBuilt(RuntimeError):
    pass


class FunctionCrashed(RuntimeError):
    pass


class CannotCheckIam(NotBuilt):
    """The roles' grants could not be read from the template (SAM's transform failed, or a policy uses what the
    local check does not evaluate): the stack does not start unchecked."""


ACCESS_DENIED = {"AccessDeniedException", "AccessDenied"}


class LocalRunner:
    def __init__(
        self,
        on_event: Callable[[str], None] = lambda _: None,
        parameters: dict[str, Any] | None = None,
        template_path: Path | None = None,
        lake_dir: Path = LAKE_DIR,
    ) -> None:
        """``template_path``: a template to run the built functions by (a changed copy of the built one, in tests)."""
        self.on_event = on_event
        self.lake_dir = lake_dir
        self.lake: LocalFirehose | None = None  # what Firehose does with the lake writer's records (devtools.lake)
        self.parameters = dict(parameters or {})
        self.template_path = template_path  # the data resources and the roles' grants (a test's modified copy)
        self.moto: MotoServer | None = None
        self.resources: dict[str, dict[str, Any]] = {}
        self.functions: dict[str, LambdaEmulator] = {}
        self.pollers: list[StreamPoller] = []
        self.gateway: LocalGateway | None = None
        self.read_gateway: LocalGateway | None = None
        self._stack = ExitStack()

    def start(self) -> LocalRunner:
        if not (BUILD_DIR / "template.yaml").exists():
            raise NotBuilt("no .aws-sam/build: run `make build` first")
        template = load_template(self.template_path or BUILD_DIR / "template.yaml")
        try:
            self._start(template)
        except TemplateRefused as error:  # AWS would not create the stack: one line saying why
            self.stop()
            raise NotBuilt(f"the template cannot run as deployed: {error}") from error
        except BaseException as error:
            self.stop()
            if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in ACCESS_DENIED:
                # only the pollers' calls are checked while starting: Lambda would not create that mapping either
                raise FunctionCrashed(f"a trigger cannot read its stream with its function's role: {error}") from None
            raise
        return self

    def _start(self, template: dict[str, Any]) -> None:
        self.moto = self._stack.enter_context(MotoServer())
        data_template = self.template_path or ROOT / "template.yaml"
        self.resources = create_data_resources(data_template, self.moto.endpoint_url, self.parameters)
        self._stack.callback(self._delete_delivery_streams)
        # Local webhooks are signed with the published local token: the local secret holds it.
        local_client("secretsmanager", self.moto.endpoint_url).put_secret_value(
            SecretId=self.resources["TwilioWebhookSecret"]["ref"], SecretString=json.dumps(LOCAL_WEBHOOK_SECRET)
        )
        self.resources["ReadCursorKey"] = read_cursor_key(self.moto.endpoint_url)
        triggers = stream_triggers(template, self.resources, self.parameters)  # refused before anything runs
        routes = api_routes(template, parameters=self.parameters)
        gateway_port = free_port()
        # The functions check signatures against the URL Twilio was given: here, the gateway's.
        stages = {route.stage for route in routes}
        if len(stages) == 1:
            self.parameters.setdefault("WebhookPublicBaseUrl", f"http://127.0.0.1:{gateway_port}/{stages.pop()}")
        # As CloudFormation: a function whose Condition is false is not created (ReconcileFunction without a schedule).
        conditions = Resolver(template, "local", self.parameters)
        functions = [
            logical_id
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
            and ("Condition" not in resource or conditions.condition(resource["Condition"]))
        ]
        self._enforce_iam()
        for logical_id in functions:
            env = {
                **function_environment(template, logical_id, self.resources, self.parameters),
                **aws_env(self.moto.endpoint_url),
                **function_credentials(logical_id),
            }
            self.functions[logical_id] = self._stack.enter_context(built_function(logical_id, env, template))
        queue_urls = {
            resource["attrs"]["Arn"]: resource["ref"]
            for resource in self.resources.values()
            if resource["type"] == "AWS::SQS::Queue"
        }
        for trigger in triggers:
            for shard in shard_ids(trigger, self.moto.endpoint_url):
                poller = StreamPoller(
                    trigger,
                    shard,
                    self.moto.endpoint_url,
                    self.functions[trigger.function].invoke,
                    self.on_event,
                    queue_urls,
                )
                self._stack.callback(poller.stop)
                self.pollers.append(poller.start())
        self.lake = self._stack.enter_context(LocalFirehose(self.moto.endpoint_url, self.resources, self.lake_dir))
        invokers = {name: function.invoke for name, function in self.functions.items()}
        self.gateway = self._stack.enter_context(LocalGateway(routes, invokers, gateway_port, self.on_event))
        read_routes = api_routes(template, READ_API, self.parameters)
        self.read_gateway = self._stack.enter_context(
            LocalGateway(read_routes, invokers, on_request=self.on_event, auth_note=LOCAL_AUTH_NOTE)
        )

    def _enforce_iam(self) -> None:
        """From here on each function's calls (signed with its own key) are allowed only by its role's statements
        in SAM's transform of the template, resolved to the local resources' ARNs."""
        assert self.moto is not None
        try:
            transformed = transformed_template(self.template_path or ROOT / "template.yaml")
            principals = function_principals(transformed, self.resources, self.parameters)
        except (TransformFailed, UnsupportedPolicy) as error:
            raise CannotCheckIam(f"cannot check IAM locally: {error}") from None
        self.moto.iam.enforce(principals, self.resources, transformed, self.parameters)

    def _delete_delivery_streams(self) -> None:
        """moto's backends outlive a server in the same process, and moto allows 50 Firehose streams in all (as
        Firehose's default quota): a stopped stack's go with it."""
        assert self.moto is not None
        firehose = local_client("firehose", self.moto.endpoint_url)
        for resource in self.resources.values():
            if resource.get("type") == "AWS::KinesisFirehose::DeliveryStream":
                with suppress(ClientError):  # gone already: a test reset moto's backends
                    firehose.delete_delivery_stream(DeliveryStreamName=resource["ref"])

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> LocalRunner:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        assert self.moto is not None
        return self.moto.endpoint_url

    def ref(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["ref"])

    def check(self) -> None:
        """Raise FunctionCrashed when a function's emulator died or a poller stopped on an error."""
        for name, function in self.functions.items():
            if not function.alive():
                tail = function.logs()[-2000:]
                raise FunctionCrashed(f"the emulator of {name} exited; its last output:\n{tail}")
        for poller in self.pollers:
            if poller.error is not None:
                raise FunctionCrashed(f"the poller {poller.name} stopped: {poller.error!r}")
        if self.lake is not None and self.lake.error is not None:
            raise FunctionCrashed(f"the local Firehose stopped: {self.lake.error}")

    def idle(self) -> bool:
        gateways = [gateway for gateway in (self.gateway, self.read_gateway) if gateway is not None]
        return all(poller.idle() for poller in self.pollers) and all(gateway.idle() for gateway in gateways)

    quiet_s = 1.5  # how long nothing must be in flight before the stack counts as idle

    def wait_idle(self, timeout_s: float = 120, tick: Callable[[], None] = lambda: None) -> bool:
        """Wait until every poller is caught up and nothing is in flight for ``quiet_s`` in a row."""
        quiet_s = self.quiet_s
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            self.check()
            tick()
            if self.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_s:
                    return True
            else:
                quiet_since = None
            time.sleep(0.1)
        return False

    def process_ids(self) -> list[int]:
        return [function.pid for function in self.functions.values() if function.pid is not None]

    def ports(self) -> list[int]:
        ports = [port for function in self.functions.values() for port in (function.port, function.runtime_port)]
        if self.moto is not None:
            ports.append(self.moto.port)
        ports += [gateway.port for gateway in (self.gateway, self.read_gateway) if gateway is not None]
        return ports

    @property
    def read_api_url(self) -> str:
        """The read API's base URL (its stage), as the ReadApiUrl output gives it deployed."""
        assert self.read_gateway is not None
        return self.read_gateway.stage_url("v1")
