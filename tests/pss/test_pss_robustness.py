"""Mangled objects (wrong types anywhere: what a hand-edited manifest or a broken dump holds)
never make the evaluator, the simulation or the coverage analysis raise."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from helpers import DATA, run_cli
from kapsec.netpol import checklist_status as netpol_status
from kapsec.netpol.coverage import analyse
from kapsec.netpol.findings import coverage_findings
from kapsec.pss import checklist_status as pss_status
from kapsec.pss.api import Level, Version
from kapsec.pss.evaluate import evaluate
from kapsec.pss.simulate import simulate
from kapsec.sources.objects import LoadedObjects, SourceRef

SNAPSHOT = json.loads((DATA / "netpol" / "snapshot.json").read_text())
JUNK: list[Any] = [None, "x", 0, 1, True, [], {}, ["a"], {"a": 1}, [None], [{}], 3.5]


def mutate(o: Any, rng: random.Random) -> None:
    if isinstance(o, dict):
        for k in list(o):
            r = rng.random()
            if r < 0.06:
                o[k] = rng.choice(JUNK)
            elif r < 0.6:
                mutate(o[k], rng)
    elif isinstance(o, list):
        for i in range(len(o)):
            if rng.random() < 0.06:
                o[i] = rng.choice(JUNK)
            else:
                mutate(o[i], rng)


def test_mangled_objects_never_raise() -> None:
    rng = random.Random(7)
    evaluated = 0
    for _ in range(80):
        items = copy.deepcopy(SNAPSHOT["items"])
        mutate(items, rng)
        kept = [i for i in items if isinstance(i, dict) and isinstance(i.get("kind"), str) and i["kind"]]
        for obj in kept:
            for level in (Level.BASELINE, Level.RESTRICTED):
                for version in ("v1.0", "v1.19", "latest"):
                    if evaluate(obj, level, Version.parse(version)) is not None:
                        evaluated += 1
        loaded = LoadedObjects(objects=[(i, SourceRef("s.json", 1)) for i in kept])
        simulate(loaded)
        coverage_findings(analyse(loaded), include_system=True)
        pss_status(loaded)
        netpol_status(loaded)
    assert evaluated > 2500


def test_cli_on_wrong_types(tmp_path: Any) -> None:
    f = tmp_path / "odd.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, annotations: [x]}\n"
        "spec: {containers: notalist, volumes: [x, {name: v, hostPath: yes}], securityContext: 5}\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: []}\n"
    )
    check = run_cli("pss", "check", str(f), "--level", "baseline", "-o", "json")
    assert check.code == 1
    assert json.loads(check.stdout)[0]["violations"] == [
        {"check": "hostPathVolumes", "message": 'hostPath volumes (volume "v")'}
    ]
    netpol = run_cli("netpol", "check", "--from", str(f), "-o", "json")
    assert netpol.code == 1
    [invalid] = [x for x in json.loads(netpol.stdout)["findings"] if x["id"] == "NETPOL-006"]
    assert (
        invalid["message"]
        == "default/p: spec.podSelector: must be an object (the API server would reject it; ignored here)"
    )
    assert "Traceback" not in check.stderr + netpol.stderr
