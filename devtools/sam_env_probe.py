"""The environment `sam local invoke` / `sam local start-api` gives each function, computed by the SAM CLI's own
code (run with .venv-sam's Python, which has it; devtools.sam_local calls it):

    .venv-sam/bin/python devtools/sam_env_probe.py TEMPLATE ENV_VARS_FILE [Name=Value ...]

prints {logical id: {variable: value}} as JSON: the template's variables (parameters resolved with their
defaults and the given overrides), those of them the env-vars file sets, and the AWS_* variables SAM adds
(credentials and region from the caller's environment or profile). No Docker, no network.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    template, env_file, *pairs = argv
    overrides = dict(pair.split("=", 1) for pair in pairs)
    stacks, _ = SamLocalStackProvider.get_stacks(template, parameter_overrides=overrides)
    provider = SamFunctionProvider(stacks)
    with open(env_file) as handle:
        values = json.load(handle)
    runner = LocalLambdaRunner(
        local_runtime=None,  # type: ignore[arg-type]  # only the environment is asked for
        function_provider=provider,
        cwd=".",
        real_path=".",
        env_vars_values=values,
    )
    environments = {function.name: runner._make_env_vars(function).resolve() for function in provider.get_all()}
    print(json.dumps(environments))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
