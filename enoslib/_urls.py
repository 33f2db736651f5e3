"""Printing URLs without the secrets a user may have put in them.

``http://alice:s3cret@api.example/stable`` is a valid URI (python-grid5000, requests and
kadeploy accept it), so every repr, log line and error message that shows a URL goes
through :func:`strip_credentials`.
"""

from __future__ import annotations

import re

__all__ = ["strip_credentials"]

# scheme://userinfo@ where userinfo runs to the LAST "@" before the host part ends, as
# urllib.parse reads it (a password may hold a raw "@" or a quote: hiding too much is fine)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s]*@")


def strip_credentials(text: object) -> str:
    """``text`` (a URL, or any message holding URLs) with each URL's user info hidden.

    >>> strip_credentials("GET http://alice:pw@127.0.0.1:8000/stable/sites: 503")
    'GET http://***@127.0.0.1:8000/stable/sites: 503'

    The login goes too: some services take a token as the user part.
    """
    return _USERINFO.sub(r"\1***@", str(text))
