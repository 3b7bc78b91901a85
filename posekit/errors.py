"""Exceptions raised by posekit. Every error meant for a user derives from :class:`PosekitError`."""

from __future__ import annotations


class PosekitError(Exception):
    """Base class: a problem a user can understand and act on (bad input, missing model, ...)."""


class InvalidInputError(PosekitError, ValueError):
    """The image or video given cannot be used (corrupt, empty, wrong type, too large)."""


class ModelError(PosekitError):
    """A model is unknown, cannot be loaded, or cannot be obtained."""


class DownloadError(ModelError):
    """Downloading model weights failed."""


class ChecksumError(DownloadError):
    """Downloaded or cached weights do not match the registry's sha256."""
