"""Where an attribute is used: apps register a finder here when they start, and deleting an attribute asks them.

``subscribers`` never imports ``campaigns`` or ``automations``, yet a segment's conditions, a send still writing
its audience from a copy of them, and an automation's date trigger name attributes. Deleting an attribute one of
them uses would leave a segment that cannot be counted, a send whose audience stops half written, or (for the
automation) a database error. So each app registers a finder in its ``AppConfig.ready()``: given the attribute, it
names what uses it, in words for the person deleting ("the segment “Customers in Scotland”"); the delete is
refused while any name is returned. Removing choices from a "one of a list" attribute asks the same finders about
those choices alone: a segment that names a removed choice could no longer be counted either.
"""

from collections.abc import Callable, Collection

# A finder is called with the attribute and, when choices are being removed, those choices (None: the attribute
# itself). It returns what, in its app, uses them: ["the segment “Scots”", ...], or [] when nothing does.
Finder = Callable[[object, Collection[str] | None], list[str]]
_finders: dict[str, Finder] = {}


def attribute_users_register(name: str, finder: Finder) -> None:
    """Register (or replace) the finder called ``name``."""
    _finders[name] = finder


def attribute_users(attribute, *, choices: Collection[str] | None = None) -> list[str]:
    """What every registered finder names as using ``attribute`` (or, given ``choices``, any of those choices of
    it), in the order they were registered."""
    return [use for finder in _finders.values() for use in finder(attribute, choices)]
