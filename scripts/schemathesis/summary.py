"""Summarise a Schemathesis NDJSON event stream: one line per distinct finding (operation, check,
status, what was sent), then a closing "N passed, N failed" line counted per operation.

Usage: python3 summary.py EVENTS.ndjson
"""

import json
import sys
from collections import defaultdict


def main(path: str) -> None:
    findings: dict[tuple, list] = defaultdict(list)
    operations: dict[str, bool] = {}
    try:
        stream = open(path, encoding="utf-8")
    except OSError:
        print(f"schemathesis: no event stream at {path}")
        return
    with stream:
        for line in stream:
            event = json.loads(line)
            scenario = event.get("ScenarioFinished")
            if not scenario:
                continue
            recorder = scenario["recorder"]
            label = recorder["label"]
            operations.setdefault(label, True)
            for case_id, checks in (recorder.get("checks") or {}).items():
                for check in checks:
                    if check.get("status") == "success":
                        continue
                    operations[label] = False
                    failure = (check.get("failure_info") or {}).get("failure") or {}
                    interaction = recorder.get("interactions", {}).get(case_id) or {}
                    response = interaction.get("response") or {}
                    case = ((recorder.get("cases") or {}).get(case_id) or {}).get("value", {})
                    phase = (case.get("meta") or {}).get("phase", {}).get("data") or {}
                    key = (label, check["name"], response.get("status_code"), failure.get("message", "").split("\n")[0])
                    findings[key].append(phase.get("description") or case.get("method", ""))
    for (label, check, status, message), how in sorted(findings.items(), key=lambda kv: str(kv[0])):
        print(f"  {label}: {check} [{status}] {message} (e.g. {how[0]})")
    passed = sum(ok for ok in operations.values())
    print(f"schemathesis: {passed} passed, {len(operations) - passed} failed")


if __name__ == "__main__":
    main(sys.argv[1])
