"""Loaded after twerr_addon.py by a test: makes twerr's own code raise for chosen paths, as a
bug would, to show that the flow goes on untouched."""

from twerr import classify
from twerr.inject import answer

_decode, _forge = classify.decode, answer.forge


def decode(status, headers, body, *, path="", **kwargs):
    if "/boom" in path:
        raise RuntimeError("a bug in decode")
    return _decode(status, headers, body, path=path, **kwargs)


def forge(fault, *, path, **kwargs):
    if "/boom" in path:
        raise RuntimeError("a bug in forge")
    return _forge(fault, path=path, **kwargs)


classify.decode = decode
answer.forge = forge
