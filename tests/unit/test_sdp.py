"""server/sdp.py: structural checks on SDP offers before aiortc sees them."""

from __future__ import annotations

import pytest

from voxroom.server.sdp import SdpError, validate_offer


def without(sdp: str, prefix: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith(prefix))


def test_real_aiortc_offer_passes(offer_sdp: str) -> None:
    assert offer_sdp.startswith("v=0\r\n")
    assert "m=audio" in offer_sdp and "a=candidate:" in offer_sdp

    assert validate_offer(offer_sdp.encode()) == offer_sdp


def test_missing_final_newline_is_added(offer_sdp: str) -> None:
    trimmed = offer_sdp.rstrip("\r\n")

    result = validate_offer(trimmed.encode())

    assert result.endswith("\n")
    assert result.rstrip("\n") == trimmed


def test_lf_only_line_endings_are_accepted(offer_sdp: str) -> None:
    lf = offer_sdp.replace("\r\n", "\n")

    assert validate_offer(lf.encode()) == lf


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda s: "", "must start with 'v=0'", id="empty"),
        pytest.param(lambda s: "  \r\n\r\n", "must start with 'v=0'", id="blank"),
        pytest.param(lambda s: s.replace("v=0", "v=1", 1), "must start with 'v=0'", id="v=1"),
        pytest.param(lambda s: without(s, "v="), "must start with 'v=0'", id="no-version"),
        pytest.param(
            lambda s: s.replace("s=-\r\n", "s=-\r\nthis is not sdp\r\n"),
            "malformed SDP line: 'this is not sdp'",
            id="garbage-line",
        ),
        pytest.param(
            lambda s: s.replace("s=-\r\n", "s=-\r\nx\r\n"),
            "malformed SDP line: 'x'",
            id="one-char-line",
        ),
        pytest.param(
            lambda s: s.replace("m=audio", "m=video"), "no audio m-line", id="no-audio-m-line"
        ),
        pytest.param(
            lambda s: without(s, "a=fingerprint:"), "no DTLS fingerprint", id="no-fingerprint"
        ),
        pytest.param(lambda s: without(s, "a=ice-ufrag:"), "no ICE credentials", id="no-ice-ufrag"),
    ],
)
def test_bad_offers_raise_sdp_error_with_the_reason(offer_sdp: str, mutate, message: str) -> None:
    with pytest.raises(SdpError) as caught:
        validate_offer(mutate(offer_sdp).encode())

    assert message in str(caught.value)


def test_non_utf8_is_rejected(offer_sdp: str) -> None:
    with pytest.raises(SdpError, match="UTF-8"):
        validate_offer(offer_sdp.encode() + b"a=tool:\xff\xfe\r\n")


def test_nul_bytes_are_rejected(offer_sdp: str) -> None:
    with pytest.raises(SdpError, match="NUL"):
        validate_offer(offer_sdp.replace("s=-", "s=\x00").encode())


def test_malformed_line_in_the_message_is_truncated() -> None:
    garbage = "y" * 500
    with pytest.raises(SdpError) as caught:
        validate_offer(f"v=0\r\n{garbage}\r\n".encode())

    assert len(str(caught.value)) < 100


def test_sdp_error_is_a_value_error() -> None:
    assert issubclass(SdpError, ValueError)
