"""The one exception type for bad input, so the app can report it in a paragraph."""


class KanpdeError(ValueError):
    """Bad input: the message names what is wrong and what is accepted."""
