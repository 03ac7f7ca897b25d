"""`make audit`: pip-audit over the locked environment (uv.lock, every dependency group).

Exit codes: 0 no known vulnerability; 1 vulnerabilities found (listed) or packages that could
not be audited; 3 the vulnerability service could not be reached at all (nothing was audited,
which pip-audit itself reports as "No known vulnerabilities found" with exit code 0).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = 3


def main() -> int:
    uv = ROOT / ".tools" / "bin" / "uv"
    audit = ROOT / ".venv" / "bin" / "pip-audit"
    with tempfile.TemporaryDirectory(prefix="toast-audit-") as scratch:
        requirements, report = Path(scratch) / "requirements.txt", Path(scratch) / "report.json"
        subprocess.run(
            [str(uv), "export", "--frozen", "--all-groups", "--no-emit-project", "--format", "requirements-txt", "--quiet", "-o", str(requirements)],
            cwd=ROOT, check=True,
        )  # fmt: skip
        # Hashed pins, no resolver: exactly the versions uv.lock installs.
        completed = subprocess.run(
            [str(audit), "-r", str(requirements), "--require-hashes", "--disable-pip", "--progress-spinner", "off",
             "--format", "json", "--output", str(report)],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        if not report.exists():
            print(completed.stdout + completed.stderr, file=sys.stderr)
            print("pip-audit failed before writing its report (see above)", file=sys.stderr)
            return completed.returncode or 1
        body = json.loads(report.read_text())
    dependencies = body.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    if dependencies and len(skipped) == len(dependencies):
        print(
            f"dependency audit NOT RUN: pip-audit could not look up any of the {len(dependencies)} locked packages "
            f"(first reason: {skipped[0]['skip_reason']}). Its vulnerability service (PyPI's JSON API, "
            "https://pypi.org/pypi/<name>/<version>/json) is not reachable from this machine, so no package was "
            "checked; pip-audit itself would report 'No known vulnerabilities found'. Run `make audit` where "
            "pypi.org (or `PIP_AUDIT_VULNERABILITY_SERVICE=osv`: api.osv.dev) is reachable.",
            file=sys.stderr,
        )
        return UNREACHABLE
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            print(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in: {fixed})")
    for dependency in skipped:
        print(f"{dependency['name']} {dependency.get('version', '')}: not audited: {dependency['skip_reason']}", file=sys.stderr)
    audited = len(dependencies) - len(skipped)
    print(f"audited {audited} locked packages: {sum(len(d['vulns']) for d in vulnerable)} known vulnerabilities in {len(vulnerable)} packages")
    return 1 if vulnerable or skipped else 0


if __name__ == "__main__":
    sys.exit(main())
