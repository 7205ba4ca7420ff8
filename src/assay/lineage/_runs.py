"""A run's record, read back: what :func:`track` or :func:`run_command` recorded of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.lineage._graph import lineage
from assay.workspace import Workspace

__all__ = ["RunRecord", "run_record"]


@dataclass
class RunRecord:
    """One run as the ledger holds it (``assay lineage run:ID --json`` shows the same, as a graph).

    - ``id``: the run's full id (``node``, its id in the lineage graph, is ``run:<id>``).
    - ``kind``: ``python`` (:func:`track`) or ``command`` (:func:`run_command`, ``assay run``).
    - ``status``: ``running``, ``succeeded`` or ``failed``; ``abandoned``: a ``running`` run whose
      process is gone (it will never end).
    - ``exit_code``: the command's, -N when signal N ended it (``signal`` names it); None while running,
      and where ``exit_unknown``: the command ended, but how is not known (reaped before assay
      could read it, by the host program's own SIGCHLD handler): the run is failed, not a success.
    - ``failure``: why it failed, where the status and exit code do not say.
    - ``started_at``, ``ended_at``: ISO 8601 times in UTC (``ended_at`` None while running).
    - ``command``: its argument list; ``params``: the parameters recorded (secrets redacted).
    - ``env``: the environment recorded (Python, packages, git commit...).
    - ``inputs``: refs (``NAME@vN``) of the versions it read; ``produced``: those it made;
      ``reproduced``: existing versions its outputs were identical to. A version this workspace
      does not hold is named in words (``ds@v2 on origin (not pulled)``).
    - ``pulled_from``: the remote its record was pulled from, or None for a run made here.
    """

    id: str
    kind: str
    status: str
    exit_code: int | None
    started_at: str
    ended_at: str | None
    command: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    produced: list[str] = field(default_factory=list)
    reproduced: list[str] = field(default_factory=list)
    failure: str | None = None
    signal: str | None = None
    abandoned: bool = False
    pulled_from: str | None = None
    exit_unknown: bool = False

    @property
    def node(self) -> str:
        return f"run:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "status": self.status, "exit_code": self.exit_code,
            "started_at": self.started_at, "ended_at": self.ended_at, "command": self.command,
            "params": self.params, "env": self.env, "inputs": self.inputs, "produced": self.produced,
            "reproduced": self.reproduced, "failure": self.failure, "signal": self.signal,
            "abandoned": self.abandoned, "pulled_from": self.pulled_from, "exit_unknown": self.exit_unknown,
        }


def run_record(ws: Workspace, run_id: str) -> RunRecord:
    """The record of the run ``run_id`` (its id, a unique prefix of 4 or more characters such as
    the 12 that `assay run` prints, or ``run:<id>``). One that names no run here is
    :class:`~assay.errors.NotFoundError`.

    >>> run = run_record(ws, "9f2c41d07a3b")   # doctest: +SKIP
    >>> run.status, run.inputs, run.produced
    ('succeeded', ['customers@v1'], ['features@v1'])
    """
    node = run_id if run_id.startswith("run:") else f"run:{run_id}"
    graph = lineage(ws, node, depth=1)
    info = graph.nodes[graph.root]
    by_relation: dict[str, list[str]] = {"input_of": [], "produced": [], "reproduced": []}
    for src, dst, relation in graph.edges:
        other = src if dst == graph.root else dst
        if relation in by_relation and graph.nodes[other].get("type") == "version":
            by_relation[relation].append(graph.nodes[other]["label"])
    env = info.get("env")
    return RunRecord(
        id=graph.root[len("run:"):], kind=info["kind"], status=info["status"], exit_code=info["exit_code"],
        started_at=info["started_at"], ended_at=info["ended_at"], command=info["command"],
        params=info["params"] if isinstance(info["params"], dict) else {},
        env=env if isinstance(env, dict) else {},
        inputs=sorted(by_relation["input_of"]), produced=sorted(by_relation["produced"]),
        reproduced=sorted(by_relation["reproduced"]),
        failure=info.get("failure") if isinstance(info.get("failure"), str) else None,
        signal=info.get("signal"), abandoned=bool(info.get("abandoned")), pulled_from=info.get("pulled_from"),
        exit_unknown=info.get("exit_unknown") is True,
    )
