"""The calculator's parser, formatting and leniency: the Rust example's cases."""

import unittest

from gamecode_agent.calculator import CalcError, evaluate, evaluate_lenient, format_number


def ev(s):
    return format_number(evaluate(s))


def err(s, fn=evaluate):
    try:
        fn(s)
    except CalcError as e:
        return str(e)
    raise AssertionError(f"{s!r} evaluated")


class Calculator(unittest.TestCase):
    def test_precedence_and_associativity(self):
        for expr, want in [
            ("6 * 7", "42"), ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("10 - 4 - 3", "3"),
            ("100 / 10 / 5", "2"), ("2 ^ 3 ^ 2", "512"), ("2 ** 10", "1024"), ("2 * 3 ^ 2", "18"),
            ("17 % 5", "2"), ("-7 % 3", "-1"), ("((((2))))", "2"),
        ]:
            self.assertEqual(ev(expr), want, expr)

    def test_unary_minus(self):
        for expr, want in [
            ("-3", "-3"), ("--3", "3"), ("-2 ^ 2", "-4"), ("(-2) ^ 2", "4"), ("2 ^ -1", "0.5"),
            ("3 - -2", "5"), ("+4", "4"), ("-(1 + 2) * 3", "-9"),
        ]:
            self.assertEqual(ev(expr), want, expr)

    def test_decimals_and_formatting(self):
        for expr, want in [
            ("0.1 + 0.2", "0.3"), (".5 * 4", "2"), ("1 / 3", "0.333333333333"),
            ("2 / 3", "0.666666666667"), ("3.25 * 2", "6.5"), ("1.5 - 1.5", "0"), ("-0.5 * 0", "0"),
            ("1234567.891", "1234567.891"), ("2 ^ 53", "9007199254740992"),
            ("2 ^ 64", "1.8446744073709552e19"), ("1 / 10000000", "1e-7"), ("7.", "7"),
            # A tie at the 12th digit rounds half to even, like Rust's formatting.
            ("1.000244140625", "1.00024414062"), ("0 - 2 ^ 60", "-1.152921504606847e18"),
        ]:
            self.assertEqual(ev(expr), want, expr)

    def test_errors(self):
        for expr, want in [
            ("", "the expression is empty"), ("   ", "the expression is empty"),
            ("1 / 0", "division by zero"), ("1 / (2 - 2)", "division by zero"),
            ("5 % 0", "modulo by zero"), ("2 +", "the expression ends too early"),
            ("(1 + 2", "unexpected end (expected ')') at position 6"),
            ("1 + 2)", "unexpected ')' at position 5"), ("1 2", "unexpected number 2 at position 2"),
            ("* 3", "unexpected '*' at position 0"), ("()", "unexpected ')' at position 1"),
            ("1.2.3", 'malformed number "1.2.3"'), (".", 'malformed number "."'),
            ("2 x 3", "unexpected character 'x' at position 2"),
            ("10 ^ 400", "the result is not a finite number"), ("9" * 400, "a number is too large"),
            ("(-8) ^ 0.5", "the result is not a finite number"),
            ("0 ^ -1", "the result is not a finite number"),
        ]:
            self.assertEqual(err(expr), want, expr)

    def test_hostile_inputs_fail_cleanly(self):
        self.assertEqual(err("(" * 10_000 + "1" + ")" * 10_000), "the expression is longer than 10000 characters")
        self.assertEqual(err("(" * 1_000 + "1" + ")" * 1_000), "parentheses are nested deeper than 200")
        self.assertEqual(err("-" * 5_000), "parentheses are nested deeper than 200")
        self.assertEqual(err("2^" * 1_000), "parentheses are nested deeper than 200")
        self.assertEqual(evaluate("(" * 100 + "1" + ")" * 100), 1.0)
        self.assertEqual(evaluate("(" * 199 + "1" + ")" * 199), 1.0)

    def test_lenient_takes_the_expression_out_of_a_question(self):
        def lenient(s):
            value, expr = evaluate_lenient(s)
            return format_number(value), expr

        self.assertEqual(lenient("What is 6 * 7?"), ("42", "6 * 7"))
        self.assertEqual(lenient("Compute (3 + 4) * 2 please"), ("14", "(3 + 4) * 2"))
        self.assertEqual(lenient("what's 2^10 - 1, roughly"), ("1023", "2^10 - 1"))
        self.assertEqual(lenient("The answer is 6 * 7."), ("42", "6 * 7"))
        self.assertEqual(lenient("(that is, 2+2)"), ("4", "2+2"))
        self.assertEqual(lenient("x = 1.5 * 4"), ("6", "1.5 * 4"))
        self.assertEqual(lenient("  12 / 4  "), ("3", "12 / 4"))
        self.assertEqual(err("example", evaluate_lenient), "no arithmetic expression found in the input")
        self.assertEqual(err("", evaluate_lenient), "the expression is empty")
        # Only expression characters: strict, so the real syntax error is reported.
        self.assertEqual(err("2 + * 3", evaluate_lenient), "unexpected '*' at position 4")
        # The extracted part is evaluated strictly too.
        self.assertEqual(err("What is 1 / 0?", evaluate_lenient), "division by zero")


if __name__ == "__main__":
    unittest.main()
