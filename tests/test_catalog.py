import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from twerr.catalog import CATALOG_PATH
from twerr.catalog import load_catalog
from twerr.catalog import parse_catalog

SEED = Path(__file__).parent / "data" / "seed-response-codes.txt"


def normalise(text: str) -> str:
    return " ".join(text.split())


def seed_rows(table: str) -> dict[int, str]:
    """Rows of one of the seed's two tables: number -> the row's text, continuation lines joined."""
    rows: dict[int, str] = {}
    current = None
    for line in table.splitlines():
        match = re.match(r"^(\d{1,3}) (.*)", line)
        if match:
            current = int(match.group(1))
            rows[current] = match.group(2)
        elif line.strip() and current is not None:
            rows[current] += " " + line
    return {number: normalise(text) for number, text in rows.items()}


def seed_tables() -> tuple[dict[int, str], dict[int, str]]:
    text = SEED.read_text(encoding="utf-8")
    statuses = text.split("Code Text Description", 1)[1].split("Error Messages", 1)[0]
    codes = text.split("Error Codes", 1)[1].split("Code Text Description", 1)[1]
    return seed_rows(statuses), seed_rows(codes)


SEED_STATUSES, SEED_CODES = seed_tables()


def test_seed_tables_are_complete():
    assert len(SEED_CODES) == 57
    assert len(SEED_STATUSES) == 15  # the sixteenth, 409, is named in the row of code 355


@pytest.mark.parametrize("code", sorted(SEED_CODES))
def test_every_seed_code_is_in_the_catalog_exactly(code):
    entry = load_catalog().code(code)
    assert entry is not None
    assert entry.source == "seed"
    assert f"{entry.message} {entry.description}" == SEED_CODES[code]
    stated = re.search(r"HTTP (\d{3})", entry.description)
    if stated:
        assert entry.http_status == int(stated.group(1))
        assert entry.status_from_seed
    else:  # the seed names no status: the catalog says which one the API sends, and where from
        assert entry.status_source
        assert not entry.status_from_seed


def test_codes_without_a_seed_status_are_the_eight_the_issue_names():
    missing = {code for code, row in SEED_CODES.items() if not re.search(r"HTTP \d{3}", row)}
    assert missing == {68, 88, 89, 92, 187, 226, 231, 251}
    statuses = {code: load_catalog().code(code).http_status for code in sorted(missing)}
    assert statuses == {68: 410, 88: 429, 89: 401, 92: 403, 187: 403, 226: 403, 231: 401, 251: 410}


@pytest.mark.parametrize("status", sorted(SEED_STATUSES))
def test_every_seed_status_is_in_the_catalog_exactly(status):
    entry = load_catalog().status(status)
    assert entry.source == "seed"
    assert f"{entry.text} {entry.description}" == SEED_STATUSES[status]


def test_sixteenth_status_409_comes_from_code_355():
    assert "HTTP 409 Conflict" in SEED_CODES[355]
    entry = load_catalog().status(409)
    assert (entry.status, entry.text) == (409, "Conflict")
    assert "355" in entry.source


def test_entries_beyond_the_seed_name_their_source():
    catalog = load_catalog()
    beyond = [c for c in catalog.codes if c.code not in SEED_CODES]
    assert {c.code for c in beyond} >= {109, 421, 422, 433, 453}
    for entry in [*beyond, *catalog.problems, *catalog.media_errors]:
        assert entry.source and entry.source != "seed"
    extra_statuses = [s for s in catalog.statuses if s.status not in SEED_STATUSES]
    assert [s.status for s in extra_statuses] == [402, 409, 413]


@pytest.mark.parametrize(
    "type_uri,slug",
    [
        ("https://api.twitter.com/2/problems/resource-not-found", "resource-not-found"),
        ("https://api.x.com/2/problems/usage-capped", "usage-capped"),
        ("https://api.X.com/2/problems/invalid-request", "invalid-request"),
        (
            "https://developer.x.com/en/support/x-api/error-troubleshooting#client-forbidden",
            "client-forbidden",
        ),
        ("about:blank", "about:blank"),
        ("https://api.twitter.com/2/problems/no-such-thing", None),
        ("resource-not-found", None),
    ],
)
def test_problem_lookup_by_any_spelling(type_uri, slug):
    entry = load_catalog().problem(type_uri)
    assert (entry.slug if entry else None) == slug


@pytest.mark.parametrize(
    "status,text,category",
    [
        (429, "Too Many Requests", "rate_limit"),
        (418, "Client Error", "invalid_request"),
        (599, "Server Error", "server"),
        (299, "Success", "success"),
        (999, "Server Error", "server"),
    ],
)
def test_status_lookup_falls_back_by_class(status, text, category):
    entry = load_catalog().status(status)
    assert (entry.text, entry.category) == (text, category)


def test_meaning_drops_the_status_prefix_only():
    catalog = load_catalog()
    assert catalog.code(34).meaning == "The specified resource was not found."
    assert catalog.code(63).meaning.startswith("The user account has been suspended")
    assert catalog.code(214).meaning.startswith("The user is not set up")
    assert catalog.code(355).meaning.startswith("Related to Account Activity API")
    assert catalog.code(251).meaning == "Corresponds to a HTTP request to a retired URL."


def test_every_entry_gives_advice():
    catalog = load_catalog()
    for entry in [*catalog.codes, *catalog.problems, *catalog.media_errors]:
        assert entry.action, entry
    for entry in catalog.statuses:
        assert entry.action or entry.category == "success", entry


def test_retry_advice_follows_the_kind_of_error():
    catalog = load_catalog()
    assert catalog.code(88).retry == "after_reset"
    assert catalog.code(130).retry == catalog.code(131).retry == "backoff"
    assert catalog.code(187).retry == catalog.code(32).retry == "never"
    assert catalog.status(503).retry == "backoff"


def with_change(old: str, new: str) -> str:
    text = CATALOG_PATH.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    "old,new,complaint",
    [
        ('category = "duplicate"', 'category = "dupe"', "category"),
        ("code = 187\n", "code = 186\n", "duplicate code 186"),
        ('retry = "never"', 'retry = "sometimes"', "retry"),
        ("status = 420", "status = 42", "status"),
        ("[categories.media]", "[categories.mediaa]", "categor"),
        ('message = "Status is a duplicate"', 'message = ""', "message"),
        ("code = 187\n", "code = 187\nbogus = 1\n", "bogus"),
        (
            'contains = "duplicate content"\ncode = 187',
            'contains = "duplicate content"\ncode = 99999',
            "codes not in the catalog: \\[99999\\]",
        ),
        ('name = "json-array"\nlike = 187', 'name = "json-array"\nlike = 99998', r"\[99998\]"),
        ('name = "429-text"', 'name = "usage-capped"', "named like problem types"),
        ('rate_limit = "day-cap"', 'rate_limit = "weekly"', "rate_limit"),
        ('resets = "day"', 'resets = "weekly"', "resets"),
    ],
)
def test_an_invalid_catalog_is_refused_with_the_field_named(old, new, complaint):
    with pytest.raises(ValidationError, match=complaint):
        parse_catalog(with_change(old, new))


def test_the_catalog_parses_as_shipped():
    assert parse_catalog(CATALOG_PATH.read_text(encoding="utf-8")) == load_catalog()


def test_problem_variants_by_status():
    entry = load_catalog().problem("https://api.twitter.com/2/problems/streaming-connection")
    assert entry.for_status(429).category == "rate_limit"
    assert entry.for_status(409).category == "invalid_request"
    assert entry.for_status(500) is entry


def test_detail_hints():
    catalog = load_catalog()
    assert (
        catalog.detail_hint("You are not allowed to create a Tweet with DUPLICATE content.").code
        == 187
    )
    assert catalog.detail_hint("Forbidden") is None


def test_402_payment_required_is_a_billing_error_a_retry_cannot_fix():
    entry = load_catalog().status(402)
    assert (entry.status, entry.text) == (402, "Payment Required")
    assert (entry.category, entry.retry) == ("billing", "never")
    assert "credits" in entry.action and entry.source != "seed"


def test_billing_is_marked_and_ranks_next_to_rate_limits():
    categories = load_catalog().categories
    assert categories["billing"].marker == ":moneybag:"
    ranks = sorted(categories, key=lambda name: -categories[name].rank)
    assert ranks[:3] == ["rate_limit", "billing", "authentication"]


@pytest.mark.parametrize(
    "type_uri,status,slug",
    [
        ("https://api.twitter.com/2/problems/credits", 402, "credits"),
        ("https://api.x.com/2/problems/credits", 402, "credits"),
        ("https://api.x.com/2/problems/credits-depleted", 402, "credits-depleted"),
        ("https://api.twitter.com/2/problems/credits-depleted", 402, "credits-depleted"),
        ("https://api.twitter.com/2/problems/credits", 403, "credits"),  # SpendCapReached
        ("https://api.x.com/2/problems/spend-cap-reached", 403, "spend-cap-reached"),
    ],
)
def test_billing_problems_are_known_on_either_host_and_never_retried(type_uri, status, slug):
    entry = load_catalog().problem(type_uri)
    assert entry is not None and entry.slug == slug
    advice = entry.for_status(status)
    assert (advice.category, advice.retry) == ("billing", "never")
    assert advice.action and entry.source


def test_the_402_problems_carry_the_captured_titles_and_details():
    catalog = load_catalog()
    credits = catalog.problem_by_slug("credits")
    assert (credits.title, credits.http_status, credits.fields) == (
        "CreditsDepleted",
        402,
        ("account_id",),
    )
    assert credits.detail == (
        "Your enrolled account [{account_id}] does not have any credits to fulfill this request."
    )
    depleted = catalog.problem_by_slug("credits-depleted")
    assert (depleted.title, depleted.detail, depleted.status_in_body) == (
        "Payment Required",
        "credits depleted",
        True,
    )
    assert "SpendCapReached" in credits.for_status(403).meaning
