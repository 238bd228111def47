"""twerr's options, as mitmproxy declares them: name, type, default and a help that states the
grammar. `Twerr.load` adds them all; each component reads its own in `configure`.

Only types `--set` can parse (mitmproxy issue #4926: no floats): milliseconds and the like are
ints, and anything with structure is a string parsed once, at configure time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import NamedTuple
from typing import Optional

HEADER = "X-Twerr-Inject"
# Quoted, because a bare | is the filter language's "or"; [.] because quoting eats backslashes.
DEFAULT_SCOPE = '~d "^(api|upload|stream|ads-api)[.](twitter|x)[.]com$"'


class Option(NamedTuple):
    name: str
    typespec: Any
    default: Any
    help: str


OPTIONS = (
    Option(
        "twerr_scope",
        str,
        DEFAULT_SCOPE,
        "Which flows twerr decodes, annotates and may inject into, as a mitmproxy filter "
        f"expression. The default, '{DEFAULT_SCOPE}', matches the Twitter/X API hosts "
        "(api, upload, stream and ads-api on twitter.com and x.com); '~all' matches "
        "every flow. Flows outside the scope are never touched.",
    ),
    Option(
        "twerr_inject",
        Sequence[str],
        [],
        "Inject Twitter/X errors or network faults, in mitmproxy's separator-first form "
        "'<sep><filter><sep><fault>[<sep><params>]', e.g. ':~u /1.1/statuses/update:187' "
        "or '|~u /2/tweets & ~m POST|88|p=0.25,times=3'. <fault>: a Twitter error code "
        "(187), an HTTP status (http503), a v2 problem type (usage-capped), an odd shape "
        "(429-no-reset), or reset, timeout, truncate, empty, slow, pass. <params>, "
        "comma-separated: p=0..1, times=N, after=N, every=N, ttl=SECONDS, delay=MS, "
        "phase=request|response, ratelimit=REQUESTS/SECONDS or ratelimit=x (X's documented "
        "limits for the endpoint and token; with 88 or http429), reset=SECONDS "
        "(a 429's window), hold=SECONDS (timeout), rate=BYTES_PER_SECOND (slow).",
    ),
    Option(
        "twerr_rules",
        str,
        "",
        "A YAML or JSON file of injection rules in long form (a list of mappings with "
        "match, fault and the parameters of twerr_inject); reloaded when it changes.",
    ),
    Option(
        "twerr_seed",
        Optional[int],  # noqa: UP045 (mitmproxy needs Optional)
        None,
        "Seed for probabilistic injection: the same seed and the same requests give the "
        "same faults. Unset: a random seed, logged so the session can be replayed.",
    ),
    Option(
        "twerr_inject_header",
        bool,
        False,
        f"Honour a '{HEADER}: <fault>[;params]' request header, for that request only; "
        "the header is removed before the request goes upstream.",
    ),
    Option(
        "twerr_max_faults",
        int,
        100,
        "At most this many injected faults in progress at once (delays, timeouts); "
        "further ones are skipped, to protect a shared proxy.",
    ),
    Option(
        "twerr_time_scale",
        int,
        1,
        "Emulated time runs this many times faster: rate-limit windows, 24-hour caps, the "
        "resets forged 429s name and the wallet's UTC days. Every reset a client is told is "
        "the real time it comes at (at 900 a 15-minute window resets a second later).",
    ),
    Option(
        "twerr_credits",
        str,
        "",
        "An emulated pay-per-use wallet, in US dollars (e.g. 5 or 0.25): each successful "
        "answer of a priced endpoint is charged as X's pricing page says (reads per resource, "
        "once per UTC day; writes per request), and once it is spent every API request gets "
        "X's 402. Empty: no wallet. Setting it again fills the wallet anew.",
    ),
    Option(
        "twerr_audit",
        bool,
        True,
        "Judge what clients do after an error (retrying too early, retry storms, "
        "repeating a permanent error or a lost write) and flag the offending flows.",
    ),
    Option(
        "twerr_audit_storm",
        str,
        "3/10",
        "RETRIES/SECONDS: that many retries of a failing endpoint within that many "
        "seconds, with waits that do not grow, are a retry storm.",
    ),
    Option(
        "twerr_audit_grace",
        int,
        1000,
        "Milliseconds before a rate-limit reset that a retry still counts as in time "
        "(clocks and the reset's whole seconds).",
    ),
    Option(
        "twerr_audit_calm",
        int,
        60,
        "Seconds a client must wait after a 420 Enhance Your Calm (Twitter's streaming "
        "guidance: start at 60 and double).",
    ),
    Option(
        "twerr_audit_memory",
        int,
        900,
        "Seconds an error is remembered for judging what follows it; older ones are "
        "forgotten, so a long session does not grow.",
    ),
    Option(
        "twerr_report",
        str,
        "",
        "Write the session's report to this file when mitmproxy stops: a .json file, "
        "a .html page (tables and a chart of errors over time, readable offline), a .xml "
        "JUnit file (a test case per error path) or a .md Markdown job summary.",
    ),
)
AUDIT_OPTIONS = frozenset(o.name for o in OPTIONS if o.name.startswith("twerr_audit"))
