"""Errors that carry a message meant for the user, printed without a traceback."""


class BiasGRPOError(Exception):
    """Base class: run.py prints these as one clear message and exits with status 2."""


class ConfigError(BiasGRPOError, ValueError):
    """A config value is out of range or names something that does not exist."""


class DataError(BiasGRPOError, ValueError):
    """A data file or row is missing or malformed."""


class ModelLoadError(BiasGRPOError, OSError):
    """A model could not be loaded (no network, wrong path, missing package)."""


class RewardError(BiasGRPOError, ValueError):
    """A reward returned something other than one finite float per completion."""


class ReportError(BiasGRPOError, ValueError):
    """task=report found no runs, or runs it cannot read or group."""


class CheckpointError(BiasGRPOError, ValueError):
    """A checkpoint holds something other than tensors and plain data, so it is not loaded."""


class ExportError(BiasGRPOError, RuntimeError):
    """task=export could not write or upload the model folder."""
