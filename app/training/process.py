"""Fine-tuning from the GUI: `main.py train --progress jsonl` runs in a QProcess, so
the window stays smooth and a crash or out-of-memory in training cannot take it
down. GUI and CLI share one code path."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

MAIN = Path(__file__).resolve().parents[2] / "main.py"
STOP_GRACE_MS = 60_000  # a cancelled run saves its checkpoint first; then it is terminated


class TrainingProcess(QObject):
    """Runs one training command and turns its JSON lines into signals."""

    event = Signal(dict)  # every progress event (start, iter, val, checkpoint, info, warning)
    finished = Signal(dict)  # the 'done' event, or {'status': 'error', 'message': ...}

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.proc = QProcess(self)
        self.proc.setProcessChannelMode(QProcess.SeparateChannels)
        self.proc.readyReadStandardOutput.connect(self._read)
        self.proc.readyReadStandardError.connect(self._read_err)
        self.proc.finished.connect(self._on_exit)
        self.proc.errorOccurred.connect(self._on_error)
        self._buf = b""
        self.stderr_tail = ""
        self.done: dict | None = None
        self.error: str | None = None
        self.stop_file: Path | None = None
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self.proc.terminate)

    @property
    def running(self) -> bool:
        return self.proc.state() != QProcess.NotRunning

    def start(self, args: list[str], stop_file: Path, cwd: Path | None = None) -> None:
        self.stop_file = stop_file
        self.done, self.error, self.stderr_tail, self._buf = None, None, "", b""
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        self.proc.setProcessEnvironment(env)
        if cwd is not None:
            self.proc.setWorkingDirectory(str(cwd))
        self.proc.start(sys.executable, [str(MAIN), "train", *args, "--progress", "jsonl",
                                         "--stop-file", str(stop_file)])

    def cancel(self) -> None:
        """Ask the run to stop at its next iteration (it saves a checkpoint first)."""
        if self.running and self.stop_file is not None:
            self.stop_file.parent.mkdir(parents=True, exist_ok=True)
            self.stop_file.touch()
            self._kill_timer.start(STOP_GRACE_MS)

    def stop_and_wait(self, timeout_ms: int = 30_000) -> None:
        """Used when the window closes: cancel, wait, then make sure it is gone."""
        if not self.running:
            return
        self.cancel()
        if not self.proc.waitForFinished(timeout_ms):
            self.proc.terminate()
            if not self.proc.waitForFinished(5_000):
                self.proc.kill()
                self.proc.waitForFinished(5_000)

    def _read(self) -> None:
        self._buf += bytes(self.proc.readAllStandardOutput())
        *lines, self._buf = self._buf.split(b"\n")
        for raw in lines:
            try:
                e = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if not isinstance(e, dict):
                continue
            kind = e.get("event")
            if kind == "done":
                self.done = e
            elif kind == "error" and e.get("fatal", True):
                self.error = e.get("message", "training failed")
            self.event.emit(e)

    def _read_err(self) -> None:
        text = bytes(self.proc.readAllStandardError()).decode("utf-8", "replace")
        self.stderr_tail = (self.stderr_tail + text)[-4000:]

    def _on_exit(self, code: int, _status) -> None:
        self._kill_timer.stop()
        self._read()
        if self.stop_file is not None:
            self.stop_file.unlink(missing_ok=True)
        if self.done is not None:
            self.finished.emit(self.done)
            return
        msg = self.error or (self.stderr_tail.strip().splitlines() or [f"exit code {code}"])[-1]
        if not self.error and self.stderr_tail:
            msg = self.stderr_tail.strip()[-1500:]
        self.finished.emit({"status": "error", "message": msg, "code": code})

    def _on_error(self, err) -> None:
        if err == QProcess.FailedToStart:
            self.finished.emit({"status": "error", "message": f"could not start {sys.executable}"})


def cpu_threads_for_training() -> int:
    """Leave one core for the window."""
    return max(1, (os.cpu_count() or 2) - 1)
