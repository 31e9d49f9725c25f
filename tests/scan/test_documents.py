"""The state machine's documents and the object -> scan id rule (no AWS needed)."""

from __future__ import annotations

import pytest

from seisless.errors import ConfigError
from seisless.scan.documents import ScanKeys, parse_scan_input, scan_id_for

EVENT = {"source": "aws.s3", "detail-type": "Object Created",
         "detail": {"bucket": {"name": "data-bucket"},
                    "object": {"key": "incoming/Line 7.SGY", "etag": "e1", "version-id": "v1"}}}


def test_event_and_hand_input_parse_alike() -> None:
    from_event = parse_scan_input(EVENT)
    assert (from_event.bucket, from_event.key, from_event.version_id, from_event.etag) == \
        ("data-bucket", "incoming/Line 7.SGY", "v1", "e1")
    by_hand = parse_scan_input({"bucket": "data-bucket", "key": "incoming/a.sgy",
                                "max_concurrency": 10})
    assert by_hand.max_concurrency == 10 and by_hand.version_id is None


@pytest.mark.parametrize("bad", [None, [], {"bucket": "b"}, {"bucket": "bb", "key": ""},
                                 {"bucket": "bkt", "key": "k", "surprise": 1}])
def test_bad_input_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError):
        parse_scan_input(bad)


def test_scan_id_is_a_function_of_the_object_version() -> None:
    a = scan_id_for("incoming/Line 7.SGY", "v1", "e1")
    assert a == scan_id_for("incoming/Line 7.SGY", "v1", "other-etag")
    assert a != scan_id_for("incoming/Line 7.SGY", "v2", "e1")
    assert a != scan_id_for("incoming/line 7.SGY", "v1", "e1")
    assert scan_id_for("k.sgy", None, '"e1"') == scan_id_for("k.sgy", "null", "e1")
    assert a.startswith("Line_7-") and ScanKeys(a).part(3).endswith("parts/000003.parquet")
    with pytest.raises(ConfigError):
        scan_id_for("k", None, None)
