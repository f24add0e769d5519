"""Error types shared by the model layer; each message is meant for the user."""


class Cancelled(Exception):
    """Work stopped because the caller set its cancel event."""


class DeviceError(RuntimeError):
    """A requested compute device does not exist here."""


class WeightsError(RuntimeError):
    """Model weights could not be found, fetched or trusted; the message says what to do."""


class UnusableImage(ValueError):
    """An image the model cannot take (too thin to resize, say); skipped, not fatal."""


class UsageError(ValueError):
    """An argument the user can fix (an output that cannot be written, say): exit code 2."""
