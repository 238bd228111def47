import logging
from collections.abc import Callable

import pytest
from mitmproxy import contentviews
from mitmproxy.contentviews import Metadata
from mitmproxy.test import taddons

import corpus
from twerr.addon import Twerr
from twerr.view import twitter_error_view

BY_ID = {sample.id: sample for sample in corpus.load().responses}


def classified_flow(sample_id: str):
    flow = corpus.make_flow(BY_ID[sample_id])
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        classifier.response(flow)
    return flow


def metadata_for(flow, message=None) -> Metadata:
    message = message or flow.response
    return Metadata(
        flow=flow, http_message=message, content_type=message.headers.get("content-type")
    )


@pytest.fixture(autouse=True)
def registered():
    contentviews.add(twitter_error_view)  # what addon/twerr_addon.py does when loaded


def test_auto_mode_picks_it_for_classified_errors_only():
    error = classified_flow("v1.1-187-duplicate")
    success = classified_flow("v2-success-gzip")
    shown = contentviews.prettify_message(error.response, error)
    assert shown.view_name == "Twitter Error"
    assert shown.text.startswith("HTTP 403 Forbidden · v1.1 · shape v1.1-errors")
    assert contentviews.prettify_message(success.response, success).view_name == "JSON"
    # the request of an error flow is not the error
    error.request.content = b'{"status":"hi"}'
    error.request.headers["content-type"] = "application/json"
    assert contentviews.prettify_message(error.request, error).view_name == "JSON"


def test_renders_meaning_action_and_rate_limit():
    flow = classified_flow("v1.1-88-rate-limit")
    text = twitter_error_view.prettify(flow.response.content, metadata_for(flow))
    assert text.splitlines()[0] == "HTTP 429 Too Many Requests · v1.1 · shape v1.1-errors"
    assert "88 Rate limit exceeded" in text
    assert "meaning:  The request limit for this resource has been reached" in text
    assert "action:   Wait until x-rate-limit-reset" in text
    assert "Advice: blocked by the 15-minute window (0/900, resets 2022-04-03 09:04:40Z)." in text
    assert "15-minute window: 0/900 remaining, resets 2022-04-03T09:04:40Z" in text
    assert '"code": 88' in text  # the body, pretty-printed


def test_renders_v2_details_and_24h_caps():
    flow = classified_flow("v2-429-app-24h-cap")
    text = twitter_error_view.prettify(flow.response.content, metadata_for(flow))
    assert "24-hour app cap: 0/1000 remaining, resets 2022-10-08T20:46:40Z" in text
    assert "exhausted: app_24h" in text
    flow = classified_flow("v2-200-not-found-only")
    text = twitter_error_view.prettify(flow.response.content, metadata_for(flow))
    assert "resource-not-found: Could not find user with id: [99999999999999999]." in text
    assert "resource_type: user" in text


def test_chosen_by_hand_on_an_unclassified_flow_it_decodes_the_body():
    flow = corpus.make_flow(BY_ID["oauth-xml-415"])
    text = twitter_error_view.prettify(flow.response.content, metadata_for(flow))
    assert "415 Callback URL not approved" in text


def test_refuses_what_is_not_an_error():
    flow = classified_flow("v2-success-gzip")
    with pytest.raises(ValueError, match="not a Twitter API error"):
        twitter_error_view.prettify(flow.response.content, metadata_for(flow))
    assert twitter_error_view.render_priority(b"{}", Metadata()) < 0


def test_undecodable_body_is_shown_raw():
    flow = classified_flow("v1.1-130-truncated")
    text = twitter_error_view.prettify(flow.response.content, metadata_for(flow))
    assert "Note: truncated JSON" in text
    assert text.endswith('{"errors":[{"code":130,"message":"Over capa')


# Metadata a flow file can hold, which anyone can edit: each one made from well-formed metadata.
Edit = Callable[[dict], dict]
EDITED = [
    pytest.param(lambda meta: {"errors": []}, id="errors-only"),
    pytest.param(
        lambda meta: {**meta, "errors": [{"label": "187 Status is a duplicate"}]},
        id="partial-error",
    ),
    pytest.param(
        lambda meta: {**meta, "errors": [{**meta["errors"][0], "retry": "soon"}]},
        id="unknown-retry",
    ),
    pytest.param(lambda meta: {**meta, "audit": "yes"}, id="audit-not-a-dict"),
    pytest.param(lambda meta: {**meta, "rate_limit": {"limit": 900}}, id="partial-rate-limit"),
    pytest.param(lambda meta: {**meta, "injected": "yes"}, id="injected-not-a-dict"),
]


@pytest.mark.parametrize("edit", EDITED)
def test_edited_metadata_is_decoded_afresh_never_failing(
    edit: Edit, caplog: pytest.LogCaptureFixture
) -> None:
    flow = classified_flow("v1.1-187-duplicate")
    flow.metadata["twerr"] = edit(flow.metadata["twerr"])
    shown = contentviews.prettify_message(flow.response, flow)
    assert shown.view_name == "JSON"  # as for a flow twerr did not classify, not Raw
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    text = twitter_error_view.prettify(flow.response.content, metadata_for(flow))
    assert text.startswith("HTTP 403 Forbidden · v1.1 · shape v1.1-errors")
    assert "meaning:  The status text has already been Tweeted" in text
