"""The wire formats of realtime.consumer_kit.codecs, as a Go peer would see them."""

import pytest

from realtime.consumer_kit import codecs
from realtime.consumer_kit.codecs import JSON, MESSAGE, XML, DecodeError
from realtime.samples.values import MouseEvent, Person


def test_message_codec_keeps_the_frame_type():
    assert MESSAGE.marshal("héllo") == ("héllo", codecs.TEXT)
    assert MESSAGE.marshal(b"\x00\x01\x02") == (b"\x00\x01\x02", codecs.BINARY)
    assert MESSAGE.marshal("") == ("", codecs.TEXT)


def test_xml_marshal_matches_go_encoding_xml():
    # What Go's xml.Marshal(Person{Name: "Jan", Emails: [...]}) writes, byte for byte.
    person = Person(Name="Jan", Emails=["ja@newmarch.name", "jan.newmarch@gmail.com"])
    payload, frame = XML.marshal(person)
    assert frame == codecs.TEXT
    assert payload == (
        "<Person><Name>Jan</Name><Emails>ja@newmarch.name</Emails><Emails>jan.newmarch@gmail.com</Emails></Person>"
    )


def test_xml_escapes_like_go():
    payload, _ = XML.marshal(Person(Name="<a & \"b\" 'c'>", Emails=[]))
    assert payload == "<Person><Name>&lt;a &amp; &#34;b&#34; &#39;c&#39;&gt;</Name></Person>"
    assert XML.unmarshal(payload, codecs.TEXT, Person).Name == "<a & \"b\" 'c'>"


def test_xml_round_trip_and_binary_frames():
    person = Person(Name="Jan", Emails=["a@example.com", "b@example.com"])
    payload, _ = XML.marshal(person)
    assert XML.unmarshal(payload, codecs.TEXT, Person) == person
    assert XML.unmarshal(payload.encode(), codecs.BINARY, Person) == person


def test_json_round_trip_of_go_field_names():
    person = Person(Name="Jan", Emails=["ja@newmarch.name"])
    payload, frame = JSON.marshal(person)
    assert (payload, frame) == ('{"Name":"Jan","Emails":["ja@newmarch.name"]}', codecs.TEXT)
    assert JSON.unmarshal(payload, codecs.TEXT, Person) == person


def test_json_emails_may_be_omitted_as_in_go():
    assert JSON.unmarshal('{"Name": "Jan"}', codecs.TEXT, Person) == Person(Name="Jan", Emails=[])


@pytest.mark.parametrize(
    "payload, code",
    [
        ('{"x": "a", "y": 1}', "invalid_type"),  # wrong type
        ('{"x": true, "y": 1}', "invalid_type"),  # a bool is not an int here
        ('{"x": 1.5, "y": 1}', "invalid_type"),
        ('{"x": 1}', "invalid_shape"),  # missing field
        ("[1, 2]", "invalid_shape"),  # not an object
        ('{"x": 1, "y": ', "invalid_json"),  # truncated
        ("", "invalid_json"),
        ('{"x": 99999999999999999999999, "y": 1}', "invalid_type"),  # beyond int64
    ],
)
def test_json_shape_errors_have_stable_codes(payload, code):
    with pytest.raises(DecodeError) as caught:
        JSON.unmarshal(payload, codecs.TEXT, MouseEvent)
    assert caught.value.code == code


def test_invalid_utf8_in_a_binary_frame_is_a_decode_error():
    with pytest.raises(DecodeError) as caught:
        JSON.unmarshal(b'{"x": "\xff"}', codecs.BINARY, MouseEvent)
    assert caught.value.code == "invalid_encoding"


def test_xml_entity_bomb_is_refused_before_expansion():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        "<Person><Name>&lol3;</Name></Person>"
    )
    with pytest.raises(DecodeError) as caught:
        XML.unmarshal(bomb, codecs.TEXT, Person)
    assert caught.value.code == "forbidden_xml"


def test_xml_external_entity_is_refused():
    xxe = '<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><Person><Name>&x;</Name></Person>'
    with pytest.raises(DecodeError) as caught:
        XML.unmarshal(xxe, codecs.TEXT, Person)
    assert caught.value.code == "forbidden_xml"


@pytest.mark.parametrize(
    "payload, code",
    [
        ("<Person><Name>Jan</Name>", "invalid_xml"),
        ("not xml at all", "invalid_xml"),
        ("<Animal><Name>Rex</Name></Animal>", "invalid_shape"),
        ("<Person><Emails>a@b</Emails></Person>", "invalid_shape"),  # Name missing
    ],
)
def test_xml_errors_have_stable_codes(payload, code):
    with pytest.raises(DecodeError) as caught:
        XML.unmarshal(payload, codecs.TEXT, Person)
    assert caught.value.code == code


def test_error_frames_in_each_codec():
    assert JSON.error("invalid_json", "bad") == ('{"error":{"code":"invalid_json","message":"bad"}}', codecs.TEXT)
    assert XML.error("invalid_xml", "a<b") == (
        "<error><code>invalid_xml</code><message>a&lt;b</message></error>",
        codecs.TEXT,
    )
