"""Tool specs and the own tools' input handling."""

import contextlib
import io
import json
import unittest

from gamecode_agent.tools import CALCULATOR, PREVIEW_CHARS, TEXT_STATS, ToolFailure, is_own, own_specs, preview, run_own
from wit_world.imports.types import ToolResultContent_Json


def run(name, text):
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            c = run_own(name, text)
    except ToolFailure as e:
        return ("err", str(e))
    return ("json" if isinstance(c, ToolResultContent_Json) else "text", c.value)


class Tools(unittest.TestCase):
    def test_specs_are_valid_json_schemas_with_valid_names(self):
        for spec in own_specs():
            self.assertTrue(is_own(spec.name))
            self.assertRegex(spec.name, r"^[a-zA-Z0-9_-]{1,64}$")
            self.assertEqual(json.loads(spec.input_schema)["type"], "object")

    def test_calculator_tool(self):
        self.assertEqual(run(CALCULATOR, '{"expression": "6 * 7"}'), ("text", "42"))
        self.assertEqual(run(CALCULATOR, '{"expression": "What is 2 ^ 10?"}'), ("text", "1024"))
        self.assertEqual(run(CALCULATOR, '{"expression": 7}'), ("text", "7"))
        for number, shown in [
            ("1e20", "1e20"), ("1e-7", "1e-7"), ("2.5e3", "2500"), ("-3", "-3"),
            ("12345678901234567890", "1.2345678901234567e19"),
        ]:
            self.assertEqual(run(CALCULATOR, '{"expression": %s}' % number), ("text", shown), number)
        self.assertTrue(run(CALCULATOR, '{"expression": 1e400}')[1].startswith("the input is not valid JSON"))
        self.assertTrue(run(CALCULATOR, '{"expression": 1%s}' % ("0" * 400))[1].startswith("the input is not valid JSON"))
        self.assertTrue(run(CALCULATOR, '{"expression": NaN}')[1].startswith("the input is not valid JSON"))
        self.assertEqual(run(CALCULATOR, '{"expression": "1/0"}'), ("err", 'cannot evaluate "1/0": division by zero'))
        self.assertEqual(run(CALCULATOR, '{"expr": "1"}'), ("err", 'the input needs a string field "expression"'))
        self.assertEqual(run(CALCULATOR, '{"expression": true}'), ("err", 'the input needs a string field "expression"'))
        self.assertEqual(run(CALCULATOR, "[1]"), ("err", "the input must be a JSON object"))
        self.assertTrue(run(CALCULATOR, "not json")[1].startswith("the input is not valid JSON"))
        self.assertEqual(run(CALCULATOR, "")[0], "err")
        huge = json.dumps({"expression": "(" * 20_000})
        kind, message = run(CALCULATOR, huge)
        self.assertEqual(kind, "err")
        self.assertLess(len(message), 200, message)

    def test_text_stats_tool(self):
        kind, out = run(TEXT_STATS, '{"text": "a b a"}')
        self.assertEqual(kind, "json")
        self.assertEqual(json.loads(out)["most_frequent_word"], {"word": "a", "count": 2})
        self.assertEqual(run(TEXT_STATS, '{"text": 3}'), ("err", 'the input needs a string field "text"'))

    def test_previews_are_short_single_lines(self):
        self.assertEqual(preview("a\nb"), "a b")
        self.assertEqual(len(preview("x" * 500)), PREVIEW_CHARS + 1)


if __name__ == "__main__":
    unittest.main()
