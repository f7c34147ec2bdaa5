"""Checks for the path-like and URL fields of a dataset manifest.

A manifest is data a user may have been sent. Every path it names (a file name, a folder of
``[samples]``, a ``nested`` glob) is joined to the dataset folder, so each must stay inside it
whatever the operating system: relative, no ``..``, no drive or UNC prefix, no backslash, no
control characters, and short enough for every common file system. Every URL must be a plain
``http(s)://host/...`` address. The functions here return a reason (``None`` when the value is
fine) so that :mod:`eventkit.datasets.manifest` can name the manifest file and the field.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

__all__ = [
    "MAX_COMPONENT_BYTES", "MAX_PATH_BYTES", "MAX_URL_CHARS",
    "bad_text", "file_name_problem", "relative_path_problem", "glob_problem", "suffix_problem", "url_problem",
]

MAX_COMPONENT_BYTES = 255  # ext4, NTFS (in UTF-16 units, fewer), APFS, XFS: 255
MAX_PATH_BYTES = 1024  # well under PATH_MAX (4096) once joined to a user's data root
MAX_URL_CHARS = 4096
_DRIVE = re.compile(r"^[A-Za-z]:")
# Names our own code gives its temporary and kept-aside files (fetch.keep_aside, extract_swap).
_OWN_SUFFIX = re.compile(r"\.(part|mismatch|oversize|not-a-file|user-\d+)(-\d+)?$")
_OWN_PREFIX = ".eventkit-"  # extraction records and temporary folders
_NOT_ON_WINDOWS = set('<>"|?*')  # with ':' (checked on its own): invalid in Windows file names
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def bad_text(value: str, allow_newlines: bool = False, strict: bool = True) -> str | None:
    """The first control or invisible formatting character of ``value``, described; else None.

    Control characters (NUL, escape sequences that repaint a terminal) and bidirectional
    overrides (which make ``gpj.exe`` read as ``exe.jpg``) have no place in a manifest. With
    ``strict`` (paths, URLs) every invisible, private-use or unassigned character is refused too.
    """
    for i, ch in enumerate(value):
        if allow_newlines and ch in "\n\t\r":
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs") or ch in _BIDI or (strict and cat in ("Cf", "Co", "Cn")):
            return f"control or invisible character {ch!r} at position {i}"
    return None


def _component_problem(part: str) -> str | None:
    if part == "":
        return "an empty path component ('//' or a leading or trailing '/')"
    if part in (".", ".."):
        return f"a {part!r} component (it would leave or blur the folder)"
    if ":" in part:
        return "a ':' (a Windows drive or stream separator: not portable)"
    if part != part.rstrip(" ."):
        return f"a component ending in a space or '.' ({part!r}; Windows drops them: not portable)"
    try:
        size = len(part.encode("utf-8"))
    except UnicodeEncodeError:
        return "invalid Unicode"
    if size > MAX_COMPONENT_BYTES:
        return f"a component of {size} bytes (at most {MAX_COMPONENT_BYTES} bytes of UTF-8 are portable)"
    return None


def relative_path_problem(value: str, glob: bool = False) -> str | None:
    """Why ``value`` is not a portable relative path inside a folder (``None`` when it is).

    ``/``-separated; refused: ``""``, absolute (``/x``, ``C:\\x``, ``C:x``, ``\\\\server\\x``), any
    ``..`` or ``.`` or empty component, backslashes, ``:``, control characters, a component over
    255 bytes or a path over 1024 bytes of UTF-8. With ``glob`` the same rules hold for a pattern
    (``**/*.zip`` is fine; ``../*.zip`` and ``/tmp/*.zip`` are not). Of the characters Windows
    refuses in names, ``<>"|?*``, a glob may hold only its own wildcards ``*`` and ``?``.
    """
    if value == "":
        return "nothing (an empty path; leave the key out for the folder itself)"
    if (reason := bad_text(value)) is not None:
        return reason
    if "\\" in value:
        return "a backslash (use '/' between folders; a leading '\\\\' is a Windows network path)"
    if value.startswith("/"):
        return "a leading '/' (an absolute path)"
    if _DRIVE.match(value):
        return "a Windows drive prefix (an absolute path)"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "invalid Unicode"
    if size > MAX_PATH_BYTES:
        return f"{size} bytes (at most {MAX_PATH_BYTES} bytes of UTF-8 are portable)"
    for part in value.split("/"):
        if (reason := _component_problem(part)) is not None:
            return reason
    forbidden = set('<>"|') if glob else _NOT_ON_WINDOWS
    if bad := sorted(forbidden & set(value)):
        return f"a {bad[0]!r} (not allowed in Windows file names: not portable)"
    return None


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a relative glob that stays inside the folder it is matched in."""
    if (reason := relative_path_problem(pattern, glob=True)) is not None:
        return reason
    for part in pattern.split("/"):
        if "**" in part and part != "**":
            return f"a '**' inside the component {part!r} ('**' must be a whole component: 'sub/**/*.zip')"
    return None


def file_name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name for the download folder (``None`` when it is)."""
    if "/" in name or "\\" in name:
        return "a folder separator (a download is a plain file name, no folders)"
    if (reason := relative_path_problem(name)) is not None:
        return reason
    if _OWN_SUFFIX.search(name):
        return "a name ending like eventkit's own temporary or kept-aside files ('.part', '.mismatch', '.user-1')"
    if name.startswith(_OWN_PREFIX):
        return f"a name starting with {_OWN_PREFIX!r} (reserved for eventkit's own records)"
    return None


def suffix_problem(suffix: str) -> str | None:
    """Why ``suffix`` (a file-name ending that rules glob for, ``*<suffix>``) is unsafe."""
    if (reason := bad_text(suffix)) is not None:
        return reason
    if "/" in suffix or "\\" in suffix:
        return "a folder separator (a suffix is the end of a file name, e.g. '.npz')"
    if ":" in suffix:
        return "a ':' (not portable)"
    if len(suffix.encode("utf-8", "replace")) > MAX_COMPONENT_BYTES:
        return f"more than {MAX_COMPONENT_BYTES} bytes"
    return None


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a plain ``http(s)://host/...`` URL (``None`` when it is)."""
    if len(url) > MAX_URL_CHARS:
        return f"{len(url)} characters long (at most {MAX_URL_CHARS})"
    if (reason := bad_text(url)) is not None:
        return reason
    if any(ch.isspace() for ch in url):
        return "whitespace inside the URL (percent-encode it as %20)"
    if "\\" in url:
        return "a backslash"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # parses the port: raises on a bad one
    except ValueError as err:
        return f"not a valid URL ({err})"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme + ':' if parts.scheme else '(none)'} is not http: or https:"
    if not parts.hostname:
        return "no host name"
    if parts.username is not None or parts.password is not None:
        return "credentials ('user:password@') inside the URL"
    if port == 0:
        return "port 0"
    return None
