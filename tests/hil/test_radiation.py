"""The radiation environment's account of its upsets (hil/radiation.py), from real event packets
and the applied records the controller and the jobs write: a weight upset is caught when the job
went back past its step after a detection, delivered when it did not; one in a verification run
is caught when the run ended its comparison; a checkpoint upset is caught when named corrupt,
harmless otherwise; a result upset is caught when the job then disagreed; the overhead of each
job against the jobs under no policy; upsets go only where there is something to hit."""

from __future__ import annotations

import json

from flight import dictionary as d
from flight.gpu.silent_upsets import ACCOUNT, upset_box
from flight.protocol.messages import decode_telemetry, encode_event
from flight.protocol.packets import build_tm, parse_packet
from hil.radiation import RadiationConfig, RadiationEnvironment


def tm(name: str, **values):
    kind, data = encode_event(name, values)
    raw = build_tm(d.APID_PAYLOAD, 0, kind.service, kind.subtype, data, msg_counter=0,
                   dest_id=d.SOURCE_GROUND, time=0.0, time_synced=True)  # fmt: skip
    return decode_telemetry(parse_packet(raw))


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def environment(tmp_path, sent):
    clock = Clock()
    env = RadiationEnvironment(RadiationConfig(1.0), 1, tmp_path, sent.append, clock)
    for job, policy in (("plain", "none"), ("checked", "checkpoint-replay")):
        manifest = env.submitted({"id": job, "command": ["gpt"], "integrity": {"policy": policy}})
        assert manifest["env"] == {"SIM_GPU_UPSETS": str(upset_box(tmp_path))}
    simulated = {"id": "sim", "simulated": {"work_s": 10}}
    assert env.submitted(simulated) == simulated  # no process, no weights: no env to refuse
    return env, clock


def play(env, clock, script):
    for at, name, values in script:
        clock.t = at
        env.update(tm(name, **values))


def applied_weights(tmp_path, seed, job, attempt, step):
    box = upset_box(tmp_path)
    box.mkdir(parents=True, exist_ok=True)
    record = {"seed": seed, "step": step, "job": job, "attempt": str(attempt), "tensor": "w",
              "index": 0, "bit": 30}  # fmt: skip
    (box / f"{seed}.applied").write_text(json.dumps(record))


def test_each_upset_is_accounted_for_by_what_became_of_it(tmp_path):
    sent = []
    env, clock = environment(tmp_path, sent)
    play(env, clock, [
        (10, "JOB_STARTED", {"job_id": "plain", "pid": 1}),
        (40, "JOB_COMPLETED", {"job_id": "plain", "runtime_s": 30.0}),
        (50, "JOB_STARTED", {"job_id": "checked", "pid": 2}),
        (60, "JOB_CHECKPOINTED", {"job_id": "checked", "checkpoint": "step-0000010.safetensors"}),
    ])  # fmt: skip
    env._inject("weights", 101)  # in checked's first attempt, step 15: caught below
    env._inject("checkpoint", 102)  # its step-10 checkpoint: named corrupt below
    play(env, clock, [
        (80, "JOB_VERIFYING", {"job_id": "checked", "check": "checkpoint-replay", "runs": 1,
                               "intervals": 2}),
        (81, "JOB_STARTED", {"job_id": "checked+v1", "pid": 3}),
        (90, "JOB_CHECKPOINT_CORRUPT", {"job_id": "checked+v1",
                                        "checkpoint": "step-0000010.safetensors"}),
    ])  # fmt: skip
    env._inject("result", 103)  # checked's results, waiting for their verdict
    play(env, clock, [
        (100, "JOB_COMPLETED", {"job_id": "checked+v1", "runtime_s": 19.0}),
        (100, "JOB_SDC_DETECTED", {"job_id": "checked", "check": "checkpoint-replay", "reruns": 1}),
        (100, "JOB_REQUEUED", {"job_id": "checked", "reason": "caught"}),
        (101, "JOB_STARTED", {"job_id": "checked", "pid": 4}),
        (101, "JOB_RESUMED", {"job_id": "checked", "checkpoint": "step-0000010.safetensors"}),
        (130, "JOB_COMPLETED", {"job_id": "checked", "runtime_s": 60.0}),
    ])  # fmt: skip
    env._inject("weights", 104)  # nothing computes now: not sent
    assert [m["upset"] for m in sent] == ["weights", "checkpoint", "result"]
    assert sent[1] == {"upset": "checkpoint", "seed": 102, "job": "checked"}
    assert sent[2] == {"upset": "result", "seed": 103, "job": "checked",
                       "path": "model.safetensors"}  # fmt: skip
    applied_weights(tmp_path, 101, "checked", 1, 15)
    with open(tmp_path / ACCOUNT, "w") as account:
        for seed, target, path in ((102, "checkpoint", "checkpoints/step-0000010.safetensors"),
                                   (103, "result", "model.safetensors")):  # fmt: skip
            account.write(json.dumps({"upset": target, "job": "checked", "path": path,
                                      "seed": seed}) + "\n")  # fmt: skip
    files = [{"name": "checked/model.safetensors", "check": "verified"}]
    figures = env.account(files)
    assert [(i.target, i.outcome) for i in env.injections] == [
        ("weights", "caught"), ("checkpoint", "caught"), ("result", "caught")
    ]  # fmt: skip
    assert figures["radiation_upsets"] == 3 and figures["radiation_delivered_checked"] == 0
    # plain held the GPU 30 s; checked 30 (50 to 80) and 29 (101 to 130), its run 19: 78 s
    assert figures["radiation_overhead_checked"] == round(78 / 30 - 1, 4)
    assert figures["radiation_suspect_shown_verified"] == 0


def test_an_upset_no_check_saw_is_delivered_and_a_suspect_result_verified_is_counted(tmp_path):
    sent = []
    env, clock = environment(tmp_path, sent)
    play(env, clock, [(10, "JOB_STARTED", {"job_id": "plain", "pid": 1})])
    env._inject("weights", 7)
    env._inject("checkpoint", 8)  # it has named no checkpoint: nothing to hit
    play(env, clock, [
        (20, "JOB_CHECKPOINTED", {"job_id": "plain", "checkpoint": "step-0000005.safetensors"}),
    ])  # fmt: skip
    env._inject("checkpoint", 9)  # never read again: harmless
    play(env, clock, [
        (40, "JOB_RESULTS_SUSPECT", {"job_id": "plain"}),
        (40, "JOB_COMPLETED", {"job_id": "plain", "runtime_s": 30.0}),
    ])  # fmt: skip
    applied_weights(tmp_path, 7, "plain", 1, 3)
    (tmp_path / ACCOUNT).write_text(json.dumps({"upset": "checkpoint", "job": "plain",
        "path": "checkpoints/step-0000005.safetensors", "seed": 9}) + "\n")  # fmt: skip
    files = [{"name": "plain/model.safetensors", "check": "verified"}]
    figures = env.account(files)
    # suspect results: the weight upset in them was not vouched for
    assert [(i.seed, i.outcome) for i in env.injections] == [(7, "caught"), (9, "harmless")]
    assert figures["radiation_suspect_shown_verified"] == 1  # the ground must never do this
    env2, clock2 = environment(tmp_path / "second", [])
    play(env2, clock2, [
        (10, "JOB_STARTED", {"job_id": "plain", "pid": 1}),
    ])  # fmt: skip
    env2._inject("weights", 11)
    play(env2, clock2, [(40, "JOB_COMPLETED", {"job_id": "plain", "runtime_s": 30.0})])
    applied_weights(tmp_path / "second", 11, "plain", 1, 3)
    assert env2.account([])["radiation_delivered_plain"] == 1
    assert env2.injections[0].outcome == "delivered"
