"""The job service's commands (PUS 140): submit, cancel, hold, release, reprioritise, and the
job reports. A manifest is checked in full (size, signature, contents) at acceptance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from flight import dictionary as d
from flight.commanding.dispatch import CommandError, Handler, Handlers
from flight.gpu.backend import H100_MEMORY_MIB
from flight.gpu.monitor import GpuMonitor
from flight.jobs.manifest import ManifestError, parse_manifest
from flight.jobs.job import JobRejected
from flight.jobs.runner import JobRunner
from flight.jobs.store import StoreError
from flight.protocol.packets import MAX_PACKET_LEN, Telecommand
from flight.reports import Reports
from flight.security.job_auth import check_signature
from flight.security.keys import SigningKey
from flight.events import EV

JOB_LIST_PAGE_OCTETS = MAX_PACKET_LEN - 512  # job summaries per JOB_LIST packet: room for the rest


class JobCommands:
    """The handlers of the job commands, over ``runner``."""

    def __init__(
        self,
        runner: JobRunner,
        reports: Reports,
        job_keys: dict[int, SigningKey],
        gpu: GpuMonitor,
        simulated_gpu: bool,
    ) -> None:
        self.runner = runner
        self.reports = reports
        self.job_keys = job_keys
        self.gpu = gpu
        self.simulated_gpu = simulated_gpu  # a simulated job needs it

    def handlers(self) -> Handlers:
        """The job commands by name."""
        return {
            "SUBMIT_JOB": Handler(self._submit, self._check_manifest),
            "REPORT_JOBS": Handler(self._report_jobs),
            "CANCEL_JOB": Handler(self._cancel, self._known_job),
            "HOLD_JOB": Handler(self._hold, self._known_job),
            "RELEASE_JOB": Handler(self._release, self._known_job),
            "REPRIORITISE_JOB": Handler(self._reprioritise, self._known_job),
            "REPORT_JOB": Handler(self._report_job, self._known_job),
        }

    @property
    def now(self) -> float:
        return self.reports.clock.time

    def _check_manifest(self, args: dict[str, Any]) -> Any:
        manifest = args["manifest"]
        size = len(msgpack.packb(manifest, use_bin_type=True))
        if size > d.MAX_MANIFEST_OCTETS:
            raise CommandError(
                d.FailureCode.MANIFEST_TOO_LARGE,
                f"manifest: {size} octets, more than {d.MAX_MANIFEST_OCTETS}",
            )
        try:
            check_signature(manifest, self.job_keys)
            spec = parse_manifest(manifest)
        except ManifestError as exc:
            raise CommandError(exc.code, f"manifest: {exc}") from None
        if spec.simulated and not self.simulated_gpu:
            raise CommandError(
                d.FailureCode.MANIFEST_CONTRADICTORY,
                "manifest: a simulated job needs the simulated GPU (this controller has "
                f"{self.gpu.kind})",
            )
        return spec, manifest

    def _submit(self, _tc: Telecommand, prepared: Any) -> None:
        spec, manifest = prepared
        reading = self.gpu.reading
        # what a job may ask for when no GPU answers: an H100's
        memory = reading.memory_total_mib if reading is not None else H100_MEMORY_MIB
        _refusal(lambda: self.runner.queue.submit(spec, manifest, self.now, memory))
        self.reports.event(EV.JOB_QUEUED(job_id=spec.job_id))

    def _known_job(self, args: dict[str, Any]) -> dict[str, Any]:
        if args["job_id"] not in self.runner.jobs:
            raise CommandError(d.FailureCode.JOB_UNKNOWN, f"no job {args['job_id']!r}")
        return args

    def _cancel(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        self.reports.events(_refusal(lambda: self.runner.cancel(args["job_id"], self.now)))

    def _hold(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        _refusal(lambda: self.runner.queue.hold(args["job_id"]))
        self.reports.event(EV.JOB_HELD(job_id=args["job_id"]))

    def _release(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        _refusal(lambda: self.runner.queue.release(args["job_id"]))
        self.reports.event(EV.JOB_RELEASED(job_id=args["job_id"]))

    def _reprioritise(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        _refusal(lambda: self.runner.queue.reprioritise(args["job_id"], args["priority"]))
        self.reports.event(EV.JOB_REPRIORITISED(**args))

    def _report_jobs(self, tc: Telecommand, _args: Any) -> None:
        pages = _pages([job.summary() for job in self.runner.jobs.values()])
        for number, jobs in enumerate(pages):
            self.reports.send(
                "JOB_LIST",
                {"page": number, "pages": len(pages), "jobs": jobs},
                dest_id=tc.source_id,
            )

    def _report_job(self, tc: Telecommand, args: dict[str, Any]) -> None:
        detail = self.runner.jobs[args["job_id"]].detail()
        self.reports.send("JOB_DETAIL", {"job": detail}, dest_id=tc.source_id)


def _refusal(action: Callable[[], Any]) -> Any:
    """Run a runner action; what it refuses becomes the command's failure."""
    try:
        return action()
    except JobRejected as exc:
        raise CommandError(exc.code, str(exc)) from None
    except StoreError as exc:  # a running job's stop could not be recorded
        raise CommandError(d.FailureCode.STORE_FAILURE, str(exc)) from None


def _pages(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Items split into lists that each encode in at most JOB_LIST_PAGE_OCTETS."""
    pages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for item in items:
        octets = len(msgpack.packb(item, use_bin_type=True))
        if pages[-1] and size + octets > JOB_LIST_PAGE_OCTETS:
            pages.append([])
            size = 0
        pages[-1].append(item)
        size += octets
    return pages
