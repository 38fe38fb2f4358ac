"""text_stats: the Rust example's cases."""

import unittest

from gamecode_agent.text_stats import text_stats, to_json


class TextStats(unittest.TestCase):
    def test_counts_a_small_text(self):
        s = text_stats("The cat sat.\nThe dog sat too!\nthe end")
        self.assertEqual((s["chars"], s["words"], s["lines"]), (37, 9, 3))
        self.assertEqual(s["most_frequent_word"], {"word": "the", "count": 3})

    def test_empty_and_blank_text(self):
        self.assertEqual(text_stats(""), {"chars": 0, "words": 0, "lines": 0, "most_frequent_word": None})
        self.assertEqual(text_stats("  \n - \n"), {"chars": 7, "words": 0, "lines": 2, "most_frequent_word": None})

    def test_ties_go_to_the_first_word_and_unicode_counts_as_chars(self):
        s = text_stats("Café b a b A café")
        self.assertEqual((s["chars"], s["words"], s["lines"]), (17, 6, 1))
        self.assertEqual(s["most_frequent_word"], {"word": "café", "count": 2})

    def test_punctuation_is_trimmed_but_apostrophes_inside_stay(self):
        s = text_stats("don't stop, don't (don't) \"go\" go")
        self.assertEqual(s["words"], 6)
        self.assertEqual(s["most_frequent_word"], {"word": "don't", "count": 3})

    def test_lines_like_rust(self):
        self.assertEqual(text_stats("a\n\n")["lines"], 2)
        self.assertEqual(text_stats("\n")["lines"], 1)
        self.assertEqual(text_stats("a\r\nb")["lines"], 2)

    def test_json_shape(self):
        self.assertEqual(
            to_json(text_stats("hi hi\n")),
            '{"chars":6,"lines":1,"most_frequent_word":{"count":2,"word":"hi"},"words":2}',
        )
        self.assertEqual(to_json(text_stats("")), '{"chars":0,"lines":0,"most_frequent_word":null,"words":0}')


if __name__ == "__main__":
    unittest.main()
