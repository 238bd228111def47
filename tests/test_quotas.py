import re
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from twerr.catalog import EndpointLimits
from twerr.catalog import Limits
from twerr.catalog import load_limits
from twerr.catalog import load_prices
from twerr.catalog import parse_limits
from twerr.catalog import parse_prices
from twerr.catalog.quotas import MAX_LOOKUPS

DOC_TABLES = Path(__file__).parent / "data" / "x-rate-limits.md"
UNITS = {"15min": "per_15min", "24hrs": "per_24h", "sec": "per_second"}


def doc_limits(cell: str) -> Limits | None:
    """A Per App or Per User cell of the doc: "—", or values such as "50/15min, 1,000/24hrs"."""
    if cell == "—":
        return None
    values = {}
    for value in cell.split(", "):
        number, unit = value.split("/")
        values[UNITS[unit]] = int(number.replace(",", ""))
    return Limits(**values)


def doc_rows() -> list[EndpointLimits]:
    rows = []
    for line in DOC_TABLES.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not re.fullmatch(r"GET|POST|PUT|DELETE|PATCH", cells[0]):
            continue
        method, route, app, user, *notes = cells
        row = EndpointLimits(
            method=method,
            route=route.strip("`"),
            app=doc_limits(app),
            user=doc_limits(user),
            notes=notes[0] if notes and notes[0] != "—" else None,
        )
        rows.append(row)
    return rows


DOC_ROWS = doc_rows()


def test_the_doc_tables_hold_109_rows_and_limits_toml_has_each_in_order():
    assert len(DOC_ROWS) == 109
    assert list(load_limits().endpoints) == DOC_ROWS


def test_the_tables_name_their_source_and_its_date():
    limits, prices = load_limits(), load_prices()
    assert "rate-limits.mdx" in limits.source and "0bfed9f0" in limits.source
    assert limits.as_of == date(2026, 7, 24)
    assert "pricing.mdx" in prices.source and "c2317112" in prices.source
    assert prices.as_of == date(2026, 8, 13)
    assert len(prices.prices) == 82


@pytest.mark.parametrize(
    ("method", "path", "app", "user"),
    [
        ("GET", "/2/tweets/search/all", Limits(per_second=1, per_15min=300), Limits(per_second=1)),
        ("POST", "/2/tweets", Limits(per_24h=10_000), Limits(per_15min=100)),
        ("POST", "/2/users/2244994945/likes", None, Limits(per_15min=50, per_24h=1000)),
        (
            "GET",
            "/2/users/personalized_trends",
            Limits(per_24h=200, per_15min=200),
            Limits(per_24h=100, per_15min=10),
        ),
        ("GET", "/2/tweets", Limits(per_15min=3500), Limits(per_15min=5000)),
        ("GET", "/2/tweets/20", Limits(per_15min=450), Limits(per_15min=900)),
        ("GET", "/2/tweets/search/recent", Limits(per_15min=450), Limits(per_15min=300)),
        ("GET", "/2/tweets/counts/all", Limits(per_15min=300), None),
        ("DELETE", "/2/tweets/20", None, Limits(per_15min=50)),
        ("GET", "/2/users/me", None, Limits(per_15min=75)),
        (
            "POST",
            "/2/dm_conversations",
            Limits(per_24h=1440),
            Limits(per_15min=15, per_24h=1440),
        ),
        (
            "DELETE",
            "/2/dm_events/1582838986779627523",
            Limits(per_24h=4000),
            Limits(per_15min=300, per_24h=1500),
        ),
        (
            "GET",
            "/2/spaces/by/creator_ids",
            Limits(per_15min=300, per_second=1),
            Limits(per_15min=300, per_second=1),
        ),
        (
            "POST",
            "/2/media/upload/1880028106020515840/append",
            Limits(per_24h=180_000),
            Limits(per_15min=1875),
        ),
        (
            "POST",
            "/2/users/12/dm/block",
            Limits(per_15min=25, per_24h=1000),
            Limits(per_15min=10, per_24h=400),
        ),
        ("DELETE", "/2/connections/all", Limits(per_15min=25), Limits(per_15min=25)),
        ("GET", "/2/trends/by/woeid/1", Limits(per_15min=75), None),
    ],
)
def test_limits_are_the_docs_numbers(method, path, app, user):
    row = load_limits().find(method, path)
    assert row is not None
    assert (row.app, row.user) == (app, user)


def test_notes_are_the_docs_notes():
    row = load_limits().find("GET", "/2/tweets/search/all")
    assert row is not None
    assert row.notes == "10 default, 500 max results; 1024 query length"
    row = load_limits().find("GET", "/2/tweets")
    assert row is not None
    assert row.notes is None


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/2/tweets/1460323737035677698", "/2/tweets/:id"),
        ("GET", "/2/tweets?ids=20,21&tweet.fields=created_at", "/2/tweets"),
        ("GET", "https://api.twitter.com/2/tweets/20", "/2/tweets/:id"),
        ("GET", "https://api.x.com/2/tweets/20?expansions=author_id", "/2/tweets/:id"),
        ("get", "/2/tweets/20", "/2/tweets/:id"),
        ("GET", "/2/tweets/", "/2/tweets"),
        ("GET", "/2/users/me", "/2/users/me"),
        ("GET", "/2/users/by?usernames=jack,twitterdev", "/2/users/by"),
        ("GET", "/2/users/by/username/jack", "/2/users/by/username/:username"),
        ("GET", "/2/users/by/username/jack/tweets", "/2/users/by/username/:username/tweets"),
        ("GET", "/2/users/search?query=x", "/2/users/search"),
        ("GET", "/2/users/personalized_trends", "/2/users/personalized_trends"),
        ("GET", "/2/users/reposts_of_me", "/2/users/reposts_of_me"),
        ("GET", "/2/users/2244994945", "/2/users/:id"),
        ("GET", "/2/users/2244994945/following", "/2/users/:id/following"),
        ("GET", "/2/users/2244994945/following/spaces", "/2/users/:id/following/spaces"),
        ("POST", "/2/users/2244994945/following", "/2/users/:id/following"),
        (
            "DELETE",
            "/2/users/12/following/13",
            "/2/users/:source_user_id/following/:target_user_id",
        ),
        ("GET", "/2/spaces/by/creator_ids?user_ids=12", "/2/spaces/by/creator_ids"),
        ("GET", "/2/spaces/search?query=x", "/2/spaces/search"),
        ("GET", "/2/spaces/1DXxyRYNejbKM", "/2/spaces/:id"),
        ("GET", "/2/spaces/1DXxyRYNejbKM/tweets", "/2/spaces/:id/tweets"),
        (
            "GET",
            "/2/dm_conversations/with/12/dm_events",
            "/2/dm_conversations/with/:participant_id/dm_events",
        ),
        (
            "GET",
            "/2/dm_conversations/12-13/dm_events",
            "/2/dm_conversations/:dm_conversation_id/dm_events",
        ),
        ("GET", "/2/tweets/search/stream/rules", "/2/tweets/search/stream/rules"),
        ("GET", "/2/media/upload?command=STATUS&media_id=1", "/2/media/upload"),
    ],
)
def test_a_request_finds_its_row(method, path, route):
    row = load_limits().find(method, path)
    assert row is not None
    assert row.route == route
    assert row.method == method.upper()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/2/users/by/username"),  # no name
        ("GET", "/2/users//likes"),  # an empty segment is no id
        ("GET", "/2/nothing/here"),
        ("GET", "/1.1/statuses/show.json?id=20"),
        ("PATCH", "/2/tweets"),
        ("GET", "/2/users/12/likes"),  # liking is POST only
        ("GET", "/"),
        ("GET", ""),
    ],
)
def test_an_unknown_endpoint_finds_nothing(method, path):
    assert load_limits().find(method, path) is None


HEAD = 'source = "test"\nas_of = "2026-01-01"\n'


def endpoint(method: str, route: str, extra: str = "user = { per_15min = 1 }\n") -> str:
    return f'[[endpoints]]\nmethod = "{method}"\nroute = "{route}"\n{extra}'


@pytest.mark.parametrize("order", [1, -1])
def test_a_literal_segment_wins_wherever_the_file_lists_it(order):
    text = HEAD + "".join(
        [endpoint("GET", "/2/users/:id"), endpoint("GET", "/2/users/me")][::order]
        + [endpoint("GET", "/2/a/:x/c"), endpoint("GET", "/2/a/b/:y")][::order]
    )
    table = parse_limits(text)
    assert table.find("GET", "/2/users/me").route == "/2/users/me"
    assert table.find("GET", "/2/users/12").route == "/2/users/:id"
    assert table.find("GET", "/2/a/b/c").route == "/2/a/b/:y"  # the leftmost literal decides
    assert table.find("GET", "/2/a/z/c").route == "/2/a/:x/c"


def test_routes_are_compiled_when_loaded_and_answers_are_memoised():
    table = parse_limits(HEAD + endpoint("GET", "/2/tweets/:id"))
    assert "_router" in table.__dict__  # built by validation, not by the first request
    match = table._router.match
    assert match.cache_info().maxsize == MAX_LOOKUPS
    first = table.find("GET", "/2/tweets/20?a=1")
    again = table.find("get", "https://api.x.com/2/tweets/20?b=2")
    assert first is again is table.endpoints[0]
    assert match.cache_info().hits == 1


def test_the_tables_are_loaded_once():
    assert load_limits() is load_limits()
    assert load_prices() is load_prices()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (HEAD + endpoint("GET", "/2/x", 'user = { per_15min = 1 }\ncolour = "red"\n'), "colour"),
        (HEAD + endpoint("GET", "/2/x", "user = { per_hour = 5 }\n"), r"user\.per_hour"),
        (HEAD + endpoint("GET", "/2/x", "app = { per_15min = 0 }\n"), r"app\.per_15min"),
        (HEAD + endpoint("GET", "/2/x", "user = { per_24h = -3 }\n"), r"user\.per_24h"),
        (HEAD + endpoint("GET", "/2/x", "user = { per_second = 1.5 }\n"), r"user\.per_second"),
        (HEAD + endpoint("GET", "/2/x", "app = {}\n"), "a limit needs per_15min"),
        (HEAD + endpoint("GET", "/2/x", 'notes = "n"\n'), "neither an app nor a user limit"),
        (HEAD + endpoint("get", "/2/x"), r"endpoints\.0\.method"),
        (HEAD + endpoint("HEAD", "/2/x"), r"endpoints\.0\.method"),
        (HEAD + endpoint("GET", "/1.1/statuses/show.json"), r"endpoints\.0\.route"),
        (HEAD + endpoint("GET", "2/tweets"), "starts with /2/"),
        (HEAD + endpoint("GET", "/2/tweets/{id}"), "starts with /2/"),
        (HEAD + endpoint("GET", "/2/x") + endpoint("GET", "/2/x"), "GET /2/x repeats"),
        (HEAD + endpoint("GET", "/2/x/:id") + endpoint("GET", "/2/x/:name"), "repeats /2/x/:id"),
        ('as_of = "2026-01-01"\n' + endpoint("GET", "/2/x"), "source"),
        ('source = "s"\nas_of = "2026-13-01"\n' + endpoint("GET", "/2/x"), "as_of"),
        (HEAD + "endpoints = []\n", "lists no endpoints"),
    ],
)
def test_a_malformed_limits_file_is_refused_naming_the_problem(text, problem):
    with pytest.raises(ValidationError, match=problem):
        parse_limits(text)


def test_a_bad_file_is_refused_when_loaded(tmp_path):
    path = tmp_path / "limits.toml"
    path.write_text(HEAD + endpoint("GET", "/2/x", "user = { per_15min = 0 }\n"))
    with pytest.raises(ValidationError, match=r"endpoints\.0\.user\.per_15min"):
        load_limits(path)


# The pricing page's rows (x-api/getting-started/pricing.mdx, commit c2317112): usd and unit.
PAGE = {
    "Posts: Read": (0.005, "resource"),
    "User: Read": (0.010, "resource"),
    "DM Event: Read": (0.010, "resource"),
    "Following/Followers: Read": (0.010, "resource"),
    "List: Read": (0.005, "resource"),
    "Space: Read": (0.005, "resource"),
    "Community: Read": (0.005, "resource"),
    "Post: Create": (0.015, "request"),
    "DM Interaction: Create": (0.015, "request"),
    "User Interaction: Create": (0.015, "request"),
    "Interaction: Delete": (0.010, "request"),
    "Content: Manage": (0.005, "request"),
    "List: Create": (0.010, "request"),
    "List: Manage": (0.005, "request"),
    "Bookmark": (0.005, "request"),
    "Media Metadata": (0.005, "request"),
    "Privacy: Update": (0.010, "request"),
    "Mute: Delete": (0.005, "request"),
    "Counts: Recent": (0.005, "request"),
    "Counts: All": (0.010, "request"),
    "Trends": (0.010, "request"),
}
# The page's Owned Reads list, and the changelog's (Apr 16, 2026): $0.001 per resource.
OWNED_READS = {
    "/2/users/:id/tweets",
    "/2/users/:id/mentions",
    "/2/users/:id/liked_tweets",
    "/2/users/:id/bookmarks",
    "/2/users/:id/followers",
    "/2/users/:id/following",
    "/2/users/:id/blocking",
    "/2/users/:id/muting",
    "/2/users/:id/owned_lists",
    "/2/users/:id/followed_lists",
    "/2/users/:id/list_memberships",
    "/2/users/:id/pinned_lists",
}


def test_every_price_is_its_pricing_page_rows_price():
    for price in load_prices().prices:
        assert (price.usd, price.per) == PAGE[price.resource], (price.method, price.route)


# Requests to every endpoint that returns Posts (X's docs site maps them to Post).
POST_READS = [
    "/2/tweets?ids=20,21",
    "/2/tweets/20",
    "/2/tweets/search/recent?query=x",
    "/2/tweets/search/all?query=x",
    "/2/tweets/search/stream",
    "/2/tweets/20/quote_tweets",
    "/2/tweets/20/retweets",
    "/2/users/12/tweets",
    "/2/users/12/mentions",
    "/2/users/12/timelines/reverse_chronological",
    "/2/users/12/liked_tweets",
    "/2/users/12/bookmarks",
    "/2/users/12/bookmarks/folders/34",
    "/2/users/reposts_of_me",
    "/2/lists/56/tweets",
    "/2/spaces/1DXxyRYNejbKM/tweets",
]


@pytest.mark.parametrize("path", POST_READS)
def test_endpoints_returning_posts_cost_a_post_read_per_post(path):
    price = load_prices().find("GET", path)
    assert price is not None
    assert (price.resource, price.usd, price.per) == ("Posts: Read", 0.005, "resource")


def test_no_other_endpoint_costs_a_post_read():
    routes = {p.route for p in load_prices().prices if p.resource == "Posts: Read"}
    assert routes == {load_prices().find("GET", path).route for path in POST_READS}


def test_creating_a_post_costs_per_request_with_dearer_urls_and_cheaper_summoned_replies():
    price = load_prices().find("POST", "https://api.x.com/2/tweets")
    assert price is not None
    assert (price.resource, price.usd, price.per) == ("Post: Create", 0.015, "request")
    assert [(v.when, v.usd, v.resource) for v in price.variants] == [
        ("summoned_reply", 0.010, "Post: Create (summoned)"),  # "summoned replies remain $0.01"
        ("with_url", 0.200, "Post: Create (with URL)"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "resource", "usd"),
    [
        ("GET", "/2/users/12", "User: Read", 0.010),
        ("GET", "/2/users/by/username/jack", "User: Read", 0.010),
        ("GET", "/2/users/me", "User: Read", 0.010),
        ("GET", "/2/tweets/20/liking_users", "User: Read", 0.010),
        ("GET", "/2/users/12/followers", "Following/Followers: Read", 0.010),
        ("GET", "/2/dm_events", "DM Event: Read", 0.010),
        ("GET", "/2/lists/56", "List: Read", 0.005),
        ("GET", "/2/spaces/search?query=x", "Space: Read", 0.005),
        ("POST", "/2/dm_conversations/with/12/messages", "DM Interaction: Create", 0.015),
        ("POST", "/2/users/12/retweets", "User Interaction: Create", 0.015),
        ("DELETE", "/2/users/12/retweets/20", "Interaction: Delete", 0.010),
        ("DELETE", "/2/tweets/20", "Content: Manage", 0.005),
        ("POST", "/2/lists", "List: Create", 0.010),
        ("PUT", "/2/lists/56", "List: Manage", 0.005),
        ("POST", "/2/users/12/bookmarks", "Bookmark", 0.005),
        ("DELETE", "/2/media/subtitles", "Media Metadata", 0.005),
        ("POST", "/2/users/12/muting", "Privacy: Update", 0.010),
        ("DELETE", "/2/users/12/muting/13", "Mute: Delete", 0.005),
        ("GET", "/2/tweets/counts/recent?query=x", "Counts: Recent", 0.005),
        ("GET", "/2/tweets/counts/all?query=x", "Counts: All", 0.010),
        ("GET", "/2/trends/by/woeid/1", "Trends", 0.010),
    ],
)
def test_prices_by_endpoint(method, path, resource, usd):
    price = load_prices().find(method, path)
    assert price is not None
    assert (price.resource, price.usd) == (resource, usd)


def test_owned_reads_are_exactly_the_pages_list():
    owned = {
        price.route
        for price in load_prices().prices
        for variant in price.variants
        if variant.when == "owned_read"
    }
    assert owned == OWNED_READS
    for route in OWNED_READS:
        price = load_prices().find("GET", route.replace(":id", "12"))
        assert price is not None
        assert price.per == "resource"
        assert [(v.usd, v.resource) for v in price.variants] == [(0.001, "Owned Reads")]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/2/users/12/likes"),  # Enterprise only since 2026-04-20
        ("POST", "/2/users/12/following"),
        ("GET", "/2/usage/tweets"),  # the docs site prices it only as a placeholder
        ("GET", "/2/tweets/search/stream/rules"),
        ("GET", "/2/tweets/compliance/stream"),  # Enterprise access
        ("GET", "/2/nothing"),
    ],
)
def test_endpoints_x_sets_no_price_for_find_none(method, path):
    assert load_prices().find(method, path) is None


def test_price_routes_are_spelled_as_the_limits_table_spells_them():
    limits = load_limits()
    for price in load_prices().prices:
        row = limits.find(price.method, price.route)
        if row is not None:
            assert row.route == price.route


PRICE_HEAD = HEAD + '[[prices]]\nmethod = "POST"\nroute = "/2/tweets"\nresource = "Post: Create"\n'


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ('usd = 0.0\nper = "request"\nbasis = "b"\n', r"prices\.0\.usd"),
        ('usd = -0.01\nper = "request"\nbasis = "b"\n', r"prices\.0\.usd"),
        ('usd = inf\nper = "request"\nbasis = "b"\n', r"prices\.0\.usd"),
        ('usd = 0.01\nper = "month"\nbasis = "b"\n', r"prices\.0\.per"),
        ('usd = 0.01\nper = "request"\n', r"prices\.0\.basis"),
        ('usd = 0.01\nper = "request"\nbasis = "b"\ntier = "pro"\n', r"prices\.0\.tier"),
        (
            'usd = 0.01\nper = "request"\nbasis = "b"\n'
            'variants = [{ when = "weekend", usd = 0.1, resource = "r" }]\n',
            r"prices\.0\.variants\.0\.when",
        ),
        (
            'usd = 0.01\nper = "request"\nbasis = "b"\n'
            'variants = [{ when = "with_url", usd = 0.1, resource = "r" },'
            ' { when = "with_url", usd = 0.2, resource = "r" }]\n',
            "variants repeat",
        ),
    ],
)
def test_a_malformed_prices_file_is_refused_naming_the_problem(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        parse_prices(PRICE_HEAD + fields)


def test_a_price_listed_twice_is_refused():
    entry = '[[prices]]\nmethod = "GET"\nroute = "/2/tweets/:id"\nusd = 0.005\nper = "resource"\n'
    entry += 'resource = "Posts: Read"\nbasis = "b"\n'
    with pytest.raises(ValidationError, match=r"GET /2/tweets/:id repeats"):
        parse_prices(HEAD + entry + entry)
