"""Wire formats, in the manner of Go's `websocket.Codec`: each codec turns a
value into (payload, frame type) and a received (payload, frame type) back
into a value.

- MESSAGE: text stays `str`, binary stays `bytes` (Go's websocket.Message).
- JSON: dataclasses and dicts as JSON text (websocket.JSON).
- XML: dataclasses as Go's encoding/xml writes structs, parsed with
  defusedxml, so entity bombs and external entities are refused.

The values are dataclasses of the caller's (realtime.samples.values).
Unmarshalling into a dataclass checks the shape: every field without a
default must be present and of its declared type (str, int, list[str]);
unknown fields are ignored, as Go does. Failures raise DecodeError with a
stable code for the error frame.
"""

import dataclasses
import json
import typing
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from realtime.consumer_kit.errors import ClientError

TEXT = "text"
BINARY = "binary"

INT64 = (-(2**63), 2**63 - 1)


class DecodeError(ClientError, ValueError):
    """A received payload that cannot become the expected value. (Also a
    ValueError: that is what a malformed value is, to code outside sockets.)"""


# -- Shape checking shared by JSON and XML --------------------------------------


def _field_types(cls):
    return typing.get_type_hints(cls)


def _check_type(name, value, kind):
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError("invalid_type", f"field {name!r} must be an integer")
        if not INT64[0] <= value <= INT64[1]:
            raise DecodeError("invalid_type", f"field {name!r} is out of range")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise DecodeError("invalid_type", f"field {name!r} must be a string")
        return value
    if typing.get_origin(kind) is list:
        if not isinstance(value, list):
            raise DecodeError("invalid_type", f"field {name!r} must be a list")
        (item_kind,) = typing.get_args(kind)
        return [_check_type(f"{name}[{i}]", item, item_kind) for i, item in enumerate(value)]
    raise TypeError(f"unsupported field type {kind!r}")


def _build(cls, fields_found):
    """Make `cls` from a mapping of field name to (already typed) value."""
    values = {}
    for field in dataclasses.fields(cls):
        if field.name in fields_found:
            values[field.name] = fields_found[field.name]
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise DecodeError("invalid_shape", f"field {field.name!r} is missing")
    return cls(**values)


def _as_text(payload):
    if isinstance(payload, str):
        return payload
    try:
        return bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("invalid_encoding", "payload is not valid UTF-8") from None


# -- Codecs -----------------------------------------------------------------


class MessageCodec:
    name = "message"

    def marshal(self, value):
        if isinstance(value, str):
            return value, TEXT
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value), BINARY
        raise TypeError("MESSAGE sends str or bytes")

    def unmarshal(self, payload, frame_type, into=None):
        return payload


class JSONCodec:
    name = "json"

    def marshal(self, value):
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False), TEXT

    def unmarshal(self, payload, frame_type, into=None):
        text = _as_text(payload)  # outside the try: its DecodeError is a ValueError too
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise DecodeError("invalid_json", f"malformed JSON: {error.msg} at position {error.pos}") from None
        # Hostile but well-formed-looking input: the decoder gives up with
        # other errors, which must not reach the consumer's catch-all (a
        # traceback in the log per message, at the flood limit's rate).
        except RecursionError:
            # Nesting deeper than the interpreter's recursion limit ("[" * 30000).
            raise DecodeError("invalid_json", "JSON nested too deeply") from None
        except ValueError:
            # An integer literal longer than sys.get_int_max_str_digits() (4,300).
            raise DecodeError("invalid_json", "a number in the JSON has too many digits") from None
        if into is None:
            return value
        if not isinstance(value, dict):
            raise DecodeError("invalid_shape", f"expected a JSON object for {into.__name__}")
        types = _field_types(into)
        found = {name: _check_type(name, value[name], kind) for name, kind in types.items() if name in value}
        return _build(into, found)

    def error(self, code, message):
        return self.marshal({"error": {"code": code, "message": message}})


def _xml_escape(text):
    # Exactly the escapes of Go's xml.EscapeText, so our output matches a Go peer's.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
        .replace("\t", "&#x9;")
        .replace("\n", "&#xA;")
        .replace("\r", "&#xD;")
    )


class XMLCodec:
    name = "xml"

    def marshal(self, value):
        if not dataclasses.is_dataclass(value):
            raise TypeError("XML sends dataclasses")
        parts = [f"<{type(value).__name__}>"]
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            for element in item if isinstance(item, list) else [item]:
                parts.append(f"<{field.name}>{_xml_escape(str(element))}</{field.name}>")
        parts.append(f"</{type(value).__name__}>")
        return "".join(parts), TEXT

    def unmarshal(self, payload, frame_type, into=None):
        text = _as_text(payload)
        try:
            root = SafeElementTree.fromstring(text, forbid_dtd=True)
        except DefusedXmlException:
            raise DecodeError("forbidden_xml", "DTDs and entity declarations are not accepted") from None
        except ParseError as error:
            raise DecodeError("invalid_xml", f"malformed XML: {error}") from None
        if into is None:
            return root
        if root.tag != into.__name__:
            raise DecodeError("invalid_shape", f"expected <{into.__name__}>, got <{root.tag}>")
        return _build(into, self._fields(root, _field_types(into)))

    def _fields(self, root: Element, types):
        found: dict[str, object] = {}
        for name, kind in types.items():
            elements = root.findall(name)
            if typing.get_origin(kind) is list:
                if elements:
                    found[name] = [element.text or "" for element in elements]
            elif elements:
                text = elements[0].text or ""
                if kind is int:
                    try:
                        found[name] = _check_type(name, int(text.strip()), int)
                    except ValueError:
                        raise DecodeError("invalid_type", f"field {name!r} must be an integer") from None
                else:
                    found[name] = text
        return found

    def error(self, code, message):
        return f"<error><code>{_xml_escape(code)}</code><message>{_xml_escape(message)}</message></error>", TEXT


MESSAGE = MessageCodec()
JSON = JSONCodec()
XML = XMLCodec()
CODECS_BY_SUBPROTOCOL = {"json": JSON, "xml": XML}
