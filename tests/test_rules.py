import json
import random

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from processes import ROOT
from twerr.inject.rules import PARAMS
from twerr.inject.rules import ActiveRule
from twerr.inject.rules import Rule
from twerr.inject.rules import load_rules_file
from twerr.inject.rules import parse_header
from twerr.inject.rules import parse_spec


@pytest.mark.parametrize(
    "spec,described,phase",
    [
        (":~u /1.1/statuses/update:187", "~u /1.1/statuses/update -> 187", "request"),
        (
            "|~u /2/tweets & ~m POST|88|p=0.25,times=3",
            "~u /2/tweets & ~m POST -> 88 (p=0.25, times=3)",
            "request",
        ),
        (":~u /2/:usage-capped", "~u /2/ -> usage-capped", "request"),
        (":~u /2/:http503:phase=response", "~u /2/ -> http503 (phase=response)", "response"),
        ("::reset", "~all -> reset", "request"),
        ("::timeout:hold=2", "~all -> timeout (hold=2)", "request"),
        (":~m GET:truncate", "~m GET -> truncate", "response"),
        (":~m GET:slow:rate=10", "~m GET -> slow (rate=10)", "response"),
        ("::pass:delay=250", "~all -> pass (delay=250)", "request"),
        (":~u timeline:88:ratelimit=15/900", "~u timeline -> 88 (ratelimit=15/900)", "request"),
        (
            ":~u x:429-no-reset:after=2,every=3,ttl=300",
            "~u x -> 429-no-reset (after=2, every=3, ttl=300)",
            "request",
        ),
        ("#~u a:b#187#", "~u a:b -> 187", "request"),  # any separator; empty params
    ],
)
def test_specs(spec, described, phase):
    rule = parse_spec(spec)
    assert rule.describe() == described
    assert rule.effective_phase == phase


@pytest.mark.parametrize(
    "spec,complaint",
    [
        ("", "empty spec"),
        (":~u x", "found 1 part"),
        (":a:b:c:d", "found 4 part"),
        (":~u x:999", "unknown Twitter error code 999"),
        (":~u x:teapot", "unknown fault 'teapot'"),
        (":~zz:187", "bad filter '~zz'"),
        (":~u x:187:p=2", "p: Input should be less than or equal to 1"),
        (":~u x:187:p=often", "p: Input should be a valid number"),
        (":~u x:187:times=0", "times: Input should be greater than or equal to 1"),
        (":~u x:187:times=1.5", "times: Input should be a valid integer"),
        (":~u x:187:every=0", "every"),
        (":~u x:187:ttl=-1", "ttl"),
        (":~u x:187:delay=-5", "delay"),
        (":~u x:187:phase=later", "phase: Input should be 'request' or 'response'"),
        (":~u x:187:foo=1", "unknown parameter 'foo'"),
        (":~u x:187:p", "parameter 'p' has no value"),
        (":~u x:187:p=0.1,p=0.2", "parameter 'p' given twice"),
        (":~u x:187:ratelimit=15/900", "ratelimit needs a fault that answers a spent window"),
        (":~u x:usage-capped:ratelimit=15/900", "ratelimit needs"),
        (":~u x:429-text:ratelimit=15/900", "ratelimit needs"),
        (":~u x:187:hold=5", "hold is for the timeout fault"),
        (":~u x:187:rate=5", "rate is for the slow fault"),
        (":~u x:187:reset=5", "reset is for a fault that answers 429"),
        (":~u x:88:reset=5,ratelimit=2/5", "reset is for a fault that answers 429 without"),
        (":~c 503:http500", "~c in '~c 503' looks at the response"),
        (":~u x & ~hs foo:187", "~hs in"),
        (":!~e:187", "~e in"),
        (":~u x:http101", "unknown fault 'http101'"),
        (":~u x:88:reset=0", "reset: Input should be greater than or equal to 1"),
        (":~u x:88:ratelimit=15", "REQUESTS/SECONDS"),
        (
            ":~u x:88:ratelimit=0/900",
            "ratelimit: limit: Input should be greater than or equal to 1",
        ),
        (":~u x:88:ratelimit=y", "or x for X's own limits"),
        (":~u x:88:ratelimit=15/900,phase=response", "no phase=response"),
        (":~u x:truncate:phase=request", "truncate acts on the API's response"),
        ("::pass", "fault 'pass' does nothing without delay"),
    ],
)
def test_bad_specs_are_refused_with_the_problem_named(spec, complaint):
    with pytest.raises(ValueError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(spec)


@given(st.text(max_size=60))
@settings(max_examples=500, deadline=None)
def test_any_spec_gives_a_rule_or_a_clear_error(text):
    try:
        rule = parse_spec(text)
    except ValueError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(rule, Rule) and rule.describe()


@given(
    sep=st.sampled_from(":|#!"),
    fault=st.sampled_from(["187", "88", "http503", "usage-capped", "reset", "429-no-reset"]),
    params=st.dictionaries(
        st.sampled_from(PARAMS), st.from_regex(r"[0-9a-z./=-]{0,6}", fullmatch=True), max_size=4
    ),
)
@settings(max_examples=500, deadline=None)
def test_any_params_give_a_rule_or_a_clear_error(sep, fault, params):
    text = ",".join(f"{k}={v}" for k, v in params.items())
    try:
        rule = parse_spec(f"{sep}~u /2/{sep}{fault}{sep}{text}")
    except ValueError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert rule.fault == fault


def test_header_specs():
    assert parse_header("187").fault == "187"
    rule = parse_header(" timeout ;hold=3,delay=100")
    assert (rule.fault, rule.hold, rule.delay, rule.match) == ("timeout", 3, 100, None)
    with pytest.raises(ValueError, match="times: not for a single request"):
        parse_header("187;times=3")
    with pytest.raises(ValueError, match="unknown fault"):
        parse_header("bogus")


def test_a_rules_file_in_yaml(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "# chaos for the timeline\n"
        "rules:\n"
        "  - match: '~u /1.1/statuses/update'\n"
        "    fault: 187\n"
        "  - match: '~u /2/tweets & ~m POST'\n"
        "    fault: 88\n"
        "    p: 0.25\n"
        "    times: 3\n"
        "    name: flaky posting\n"
    )
    (first, where1), (second, where2) = load_rules_file(path)
    assert (first.fault, first.match, where1) == (
        "187",
        "~u /1.1/statuses/update",
        "rules.yaml line 3",
    )
    assert (second.p, second.times, second.name, where2) == (
        0.25,
        3,
        "flaky posting",
        "rules.yaml line 5",
    )


def test_a_rules_file_in_json_and_as_a_bare_list(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"match": "~u /2/", "fault": "usage-capped", "ttl": 60}]))
    [(rule, where)] = load_rules_file(path)
    assert (rule.fault, rule.ttl, where) == ("usage-capped", 60, "rules.json line 1")
    path.write_text("")
    assert load_rules_file(path) == []


@pytest.mark.parametrize(
    "text,complaint",
    [
        (
            "rules:\n  - fault: 187\n  - fault: 88\n    p: 7\n",
            "rules.yaml line 4: rule 2: p: Input",
        ),
        ("- fault: 187\n  bogus: 1\n", "rules.yaml line 2: rule 1: bogus: Extra inputs"),
        ("- match: '~zz'\n  fault: 187\n", "rules.yaml line 1: rule 1: bad filter"),
        ("- fault: 187\n- 42\n", "rules.yaml line 2: rule 2 is not a mapping"),
        ("- match: '~u x'\n", "rule 1: fault: Field required"),
        ("rules: {fault: 187}\n", "expected a list of rules"),
        ("- [unclosed\n", "not valid YAML or JSON"),
    ],
)
def test_a_bad_rules_file_is_refused_with_the_line_and_field(tmp_path, text, complaint):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=complaint.replace("(", r"\(")):
        load_rules_file(path)


def test_a_rules_file_nested_too_deeply(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(ValueError, match="nested too deeply"):
        load_rules_file(path)


@pytest.mark.parametrize("depth", [101, 1200])
def test_a_rule_filter_nested_too_deep_to_match_is_refused(depth):
    with pytest.raises(ValueError, match="nested more than 100 levels deep"):
        parse_spec(":" + "!" * (depth - 1) + "~all:187")


def test_a_missing_rules_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        load_rules_file(tmp_path / "nowhere.yaml")


def fire(spec: str, requests: int, seed: int = 1, now: float = 0.0) -> list[int]:
    """Which of the numbered requests (1-based) a rule injects into."""
    active = ActiveRule(parse_spec(spec), "test", loaded_at=0.0)
    rng = random.Random(seed)
    return [n for n in range(1, requests + 1) if active.consider(now, rng)]


@pytest.mark.parametrize(
    "params,fired",
    [
        ("", [1, 2, 3, 4, 5, 6, 7, 8]),
        ("times=3", [1, 2, 3]),
        ("after=2", [3, 4, 5, 6, 7, 8]),
        ("every=3", [3, 6]),
        ("after=2,every=2,times=2", [4, 6]),
    ],
)
def test_counts(params, fired):
    assert fire(f":~all:187:{params}", 8) == fired


def test_ttl_expires_the_rule():
    assert fire(":~all:187:ttl=10", 3, now=9.9) == [1, 2, 3]
    assert fire(":~all:187:ttl=10", 3, now=10) == []


def test_probability_is_reproducible_with_a_seed():
    first = fire(":~all:187:p=0.3", 200, seed=42)
    assert first == fire(":~all:187:p=0.3", 200, seed=42)
    assert first != fire(":~all:187:p=0.3", 200, seed=43)
    assert 30 <= len(first) <= 90  # about 60 of 200


def test_the_decision_says_why():
    active = ActiveRule(parse_spec(":~all:187:p=0.5,after=1"), "twerr_inject[0]", 0.0)
    rng = random.Random(7)
    decisions = [active.consider(0.0, rng) for _ in range(6)]
    made = [d for d in decisions if d]
    assert decisions[0] is None  # after=1: the first passes without a draw
    assert [d.injection for d in made] == list(range(1, len(made) + 1))
    assert all(d.draw < 0.5 for d in made)
    reference = random.Random(7)
    draws = [reference.random() for _ in range(5)]
    assert [d.draw for d in made] == [x for x in draws if x < 0.5]
    assert active.summary(0.0).startswith(
        f"twerr_inject[0]: ~all -> 187 (p=0.5, after=1): {len(made)} injected of 6 matched"
    )


def test_the_example_rules_file_loads():
    rules = load_rules_file(ROOT / "examples" / "chaos.yaml")
    assert [rule.fault for rule, _ in rules] == ["187", "88", "reset", "pass"]
    assert rules[1][0].ratelimit.limit == 15 and rules[2][0].effective_phase == "response"
