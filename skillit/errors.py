"""One exception type for problems the user can fix (bad config, bad file, bad flag).

The CLI prints these as a single line and exits with status 2; anything else is a bug and keeps
its traceback.
"""


class SkillitError(ValueError):
    """A user-facing error: the message names the file, key or flag and what would be valid."""


class SkillitWarning(UserWarning):
    """Input that is accepted but probably not what was meant (the message says what to check)."""
