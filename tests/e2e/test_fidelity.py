"""The fidelity matrix (tests/fidelity.py) through real mitmdump processes, both proxy modes."""

import importlib.util
import re
import sys

import pytest

import fidelity
from processes import ROOT
from twerr.catalog import load_catalog

SEED = (ROOT / "tests" / "data" / "seed-response-codes.txt").read_text(encoding="utf-8")


def load_script():
    spec = importlib.util.spec_from_file_location(
        "fidelity_script", ROOT / "scripts" / "fidelity.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def node():
    """None when the node client runs here, else why not (printed with the skip)."""
    return fidelity.node_available()


@pytest.fixture(scope="module", params=["regular", "reverse"])
def matrix(request, tmp_path_factory, node):
    with fidelity.setup(request.param, tmp_path_factory.mktemp(request.param)) as setup:
        yield request.param, setup, fidelity.run(setup, with_node=node is None)


def test_every_client_sees_every_forged_error_as_the_real_one(matrix, capsys):
    mode, _, cells = matrix
    differing = load_script().print_matrix(mode, cells)
    printed = capsys.readouterr().out
    assert differing == 0, printed
    assert f"{len(cells)} of {len(cells)} cells the same" in printed


def test_the_matrix_covers_the_seed_the_v2_problems_the_edge_cases_and_the_network(matrix):
    _, _, cells = matrix
    faults = {cell.case.fault for cell in cells}
    seed_codes = {
        int(code) for code in re.findall(r"^(\d{1,3}) ", SEED.split("Error Codes", 1)[1], re.M)
    }
    assert {str(code) for code in seed_codes} <= faults
    assert {problem.slug for problem in load_catalog().problems} <= faults
    assert {"http420", "http429", "429-no-reset", "429-day-cap", "429-empty", "429-text"} <= faults
    assert {"http500", "http502", "http503", "http504", "html-503"} <= faults
    assert {"reset", "empty", "truncate", "timeout"} <= faults
    assert {"credits", "credits-depleted", "spend-cap-reached", "usage-capped"} <= faults
    captured = {cell.case.fault for cell in cells if cell.case.captured}
    assert {"credits", "credits-depleted", "usage-capped"} <= captured
    clients = {cell.client for cell in cells}
    assert {"tweepy.API", "tweepy.Client", "twython"} <= clients


def test_the_node_client_is_in_the_matrix(matrix, node):
    if node is not None:
        pytest.skip(f"twitter-api-v2 (node) cannot run here: {node}")
    _, _, cells = matrix
    node_cells = [cell for cell in cells if cell.client == "twitter-api-v2"]
    assert len(node_cells) == len(fidelity.cases())
    assert any(cell.real.get("raises") == "ApiResponseError" for cell in node_cells)


def test_the_matrix_tells_different_errors_apart(matrix):
    """A control: the views must be fine enough that another error is not 'the same'."""
    _, setup, _ = matrix
    case = next(case for case in fidelity.cases() if case.fault == "187")
    real = fidelity.python_views(setup, case, (fidelity.SAMPLE_HEADER, case.reference), False)
    wrong = fidelity.python_views(setup, case, (fidelity.INJECT_HEADER, "186"), False)
    assert real.keys() == wrong.keys()
    assert all(real[client] != wrong[client] for client in real)
    network = next(case for case in fidelity.cases() if case.fault == "reset")
    truncated = fidelity.python_views(setup, network, (fidelity.INJECT_HEADER, "truncate"), False)
    reset = fidelity.python_views(setup, network, (fidelity.SAMPLE_HEADER, "net-reset"), True)
    assert all(reset[client] != truncated[client] for client in reset)


def test_the_script_exists_for_people():
    assert (ROOT / "scripts" / "fidelity").exists() and sys.executable
