"""A text progress bar on stderr: epoch, batches, loss, accuracy, images/s and ETA.

On a terminal the bar redraws in place (at most ten times a second); otherwise (a log file, a
pipe, CI) it writes one line per epoch, so logs stay readable.
"""
import sys
import time


def _duration(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressBar:
    """Progress of one epoch.

    Args:
        total: batches in the epoch.
        epoch: the epoch number shown (1-based).
        epochs: the total number of epochs shown.
        stream: where to write (stderr by default); None for no output at all.
        width: characters in the bar.
    """

    def __init__(self, total, epoch, epochs, stream=sys.stderr, width=24):
        self.total, self.epoch, self.epochs, self.stream, self.width = total, epoch, epochs, stream, width
        self.interactive = stream is not None and getattr(stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self.elapsed = None  # frozen at the end of training, so validation time is not counted
        self.last_draw = 0.0
        self.done = 0

    def line(self, metrics, images):
        elapsed = self.elapsed if self.elapsed is not None else time.perf_counter() - self.start
        fraction = self.done / self.total if self.total else 1.0
        filled = int(self.width * fraction)
        bar = "#" * filled + "." * (self.width - filled)
        rate = images / elapsed if elapsed > 0 else 0.0
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        parts = [f"epoch {self.epoch}/{self.epochs} [{bar}] {self.done}/{self.total}"]
        parts += [f"{name} {value:.4f}" if "loss" in name else f"{name} {value:.2%}"
                  for name, value in metrics.items() if value is not None]
        parts.append(f"{rate:,.0f} img/s")
        parts.append(f"ETA {_duration(eta)}" if self.done < self.total else f"{_duration(elapsed)}")
        return "  ".join(parts)

    def update(self, done, metrics, images):
        """Record that ``done`` batches (``images`` images) are finished with running ``metrics``."""
        self.done = done
        if done == self.total:
            self.elapsed = time.perf_counter() - self.start
        if not self.interactive:
            return
        now = time.perf_counter()
        if now - self.last_draw >= 0.1 or done == self.total:
            self.last_draw = now
            self.stream.write("\r" + self.line(metrics, images) + "\x1b[K")
            self.stream.flush()

    def close(self, metrics, images):
        """Write the final line of the epoch (with validation metrics, if any)."""
        if self.stream is None:
            return
        self.stream.write(("\r" if self.interactive else "") + self.line(metrics, images) +
                          ("\x1b[K" if self.interactive else "") + "\n")
        self.stream.flush()
