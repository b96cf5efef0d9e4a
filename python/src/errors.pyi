
# The exception classes (created at import by register_errors in module.cpp, which stubgen does
# not see); appended to the generated stub by python/CMakeLists.txt.
class BitnetError(Exception):
    """Base class of every error raised by the bitnet engine."""

class ModelError(BitnetError):
    """Not a valid or supported model file."""

class TokenizerError(BitnetError):
    """A bad vocabulary or text the tokenizer cannot handle."""

class ConfigError(BitnetError, ValueError):
    """A bad argument or setting (also a ValueError)."""

class IoError(BitnetError, OSError):
    """A file that is missing or unreadable (also an OSError)."""

class OutOfMemoryError(BitnetError, MemoryError):
    """Memory could not be allocated (also a MemoryError)."""

class CapacityError(BitnetError):
    """The tokens do not fit in the context (raise n_ctx)."""

class DeviceError(BitnetError):
    """A device or CPU feature that is not available."""

class InternalError(BitnetError):
    """A bug in bitnet: please report it with the message."""
