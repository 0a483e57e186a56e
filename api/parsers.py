"""The API's JSON parser: DRF's, with JSON nested too deep for Python's reader (thousands of brackets, a few
kilobytes) refused as malformed, a 400 naming it, where DRF lets the ``RecursionError`` through as a 500."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class ApiJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deep to read") from None
