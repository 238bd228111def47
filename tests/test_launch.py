"""What twerr_proxy(...) takes, turned into the arguments of its `twerr dump`; what cannot be
used is refused with the reason, before any process starts."""

import pytest

from twerr.testing.launch import check_upstream
from twerr.testing.launch import options_text
from twerr.testing.launch import plan


def sets(launch) -> list[str]:
    args = list(launch.args)
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--set"]


def test_a_free_port_on_the_loopback_and_no_connection_before_a_request():
    args = plan().args
    assert args[:4] == ("--listen-host", "127.0.0.1", "--listen-port", "0")
    assert "connection_strategy=lazy" in sets(plan())
    assert "flow_detail=0" in sets(plan())  # mitmdump's own flow lines print whole URLs


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"seed": 42}, ["twerr_seed=42"]),
        ({"twerr_seed": 42}, ["twerr_seed=42"]),
        ({"inject": ":~u /2/tweets:187"}, ["twerr_inject=:~u /2/tweets:187"]),
        ({"inject": [":a:187", "|b|88"]}, ["twerr_inject=:a:187", "twerr_inject=|b|88"]),
        ({"inject_header": True}, ["twerr_inject_header=true"]),
        ({"audit": False}, ["twerr_audit=false"]),
        ({"time_scale": 1800, "credits": "0.25"}, ["twerr_time_scale=1800", "twerr_credits=0.25"]),
        ({"seed": None}, []),
        ({"options": {"ssl_insecure": True, "map_remote": ["|a|b", "|c|d"]}},
         ["ssl_insecure=true", "map_remote=|a|b", "map_remote=|c|d"]),
    ],
)  # fmt: skip
def test_twerr_options_by_name_and_mitmproxy_options_in_options(given, expected):
    fixed = sets(plan())
    assert [s for s in sets(plan(**given)) if s not in fixed] == expected


def test_replay_files_answer_every_repeat_and_kill_what_they_lack(tmp_path):
    session = tmp_path / "session.mitm"
    session.write_bytes(b"")
    args = plan(replay=session).args
    assert args[args.index("--server-replay") + 1] == str(session)
    assert {"server_replay_reuse=true", "server_replay_extra=kill"} <= set(
        sets(plan(replay=session))
    )
    with pytest.raises(ValueError, match=r"replay: no such flow file: '.*missing\.mitm'"):
        plan(replay=tmp_path / "missing.mitm")


def test_extra_arguments_go_last():
    assert plan(args=["--mode", "regular"]).args[-2:] == ("--mode", "regular")
    with pytest.raises(TypeError, match="args must be a list of strings"):
        plan(args="--mode regular")


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://double.test", "https://double.test"),
        (None, ""),
    ],
)
def test_an_upstream_is_a_scheme_a_host_and_a_port(upstream, expected):
    assert check_upstream(upstream) == expected


@pytest.mark.parametrize(
    "upstream", ["127.0.0.1:8000", "ftp://host", "http://host:port", "http://host/1.1/", 8000]
)
def test_anything_else_is_refused(upstream):
    with pytest.raises(ValueError, match="upstream must be"):
        plan(upstream=upstream)


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ({"sede": 1}, TypeError, "unknown argument 'sede'. twerr's options: .*seed"),
        ({"seed": [1, 2]}, ValueError, "twerr_seed takes one value, not list"),
        ({"seed": object()}, ValueError, "cannot pass a object as an option value"),
    ],
)
def test_unknown_arguments_and_values_are_refused(given, error, message):
    with pytest.raises(error, match=message):
        plan(**given)


def test_options_set_as_the_proxy_runs():
    assert options_text({"time_scale": 60, "inject": ["a", "b"], "anticache": True}) == [
        "twerr_time_scale=60",
        "twerr_inject=a",
        "twerr_inject=b",
        "anticache=true",
    ]
    # an empty list empties the option: mitmproxy's set takes the bare name for that
    assert options_text({"inject": []}) == ["twerr_inject"]
