"""`make audit`: pip-audit's verdict, saying SKIPPED when it could not check.

    .venv/bin/python scripts/audit.py .venv-security/bin/pip-audit --requirement layers/voice_insights/requirements.txt

Runs the pip-audit command given (adding ``--format json``) and reads its report. pip-audit prints "No known
vulnerabilities found" even when it audited nothing (where PyPI's JSON API cannot be reached it lists every
package as skipped), so the verdict here counts what was audited:

- a known vulnerability: lists them, exit status 1;
- nothing audited: one SKIPPED line with the reason, exit status 0 (a machine without access stays green);
- some packages skipped: the audited ones are clean, the skipped ones are named as SKIPPED, exit status 0;
- everything audited and clean: says so, exit status 0.
pip-audit failing without a report (say, a requirement that does not resolve) is passed on with its output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def verdict(report: dict[str, Any]) -> tuple[int, list[str]]:
    """(exit status, lines to print) for pip-audit's JSON report."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    lines = []
    if vulnerable:
        count = sum(len(d["vulns"]) for d in vulnerable)
        lines.append(f"FAILED: {count} known vulnerabilities in {len(vulnerable)} of {len(audited)} audited packages:")
        for dependency in vulnerable:
            for vuln in dependency["vulns"]:
                aliases = f" ({', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
                fixed = ", ".join(vuln.get("fix_versions", [])) or "none yet"
                lines.append(f"  {dependency['name']} {dependency['version']}: {vuln['id']}{aliases}, fixed in {fixed}")
    if not audited:
        reason = f": {skipped[0]['skip_reason']}" if skipped else ""
        lines.append(
            f"SKIPPED: pip-audit could not audit any of the {len(skipped)} packages{reason}. Nothing was checked "
            "for known vulnerabilities; run `make audit` where PyPI's JSON API answers before a release."
        )
        return 0, lines
    if not vulnerable:
        lines.append(f"no known vulnerabilities in the {len(audited)} packages audited")
    if skipped:
        names = ", ".join(d["name"] for d in skipped)
        lines.append(f"SKIPPED: {len(skipped)} packages could not be audited ({names}): {skipped[0]['skip_reason']}")
    return (1 if vulnerable else 0), lines


def main(command: list[str]) -> int:
    if not command:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    result = subprocess.run([*command, "--format", "json"], capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        sys.stderr.write(result.stdout + result.stderr)
        print(f"error: pip-audit exited {result.returncode} without a report", file=sys.stderr)
        return result.returncode or 1
    status, lines = verdict(report)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
