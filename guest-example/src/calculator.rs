//! The `calculator` tool: arithmetic evaluated by a recursive-descent parser.
//!
//! Grammar (lowest precedence first):
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/' | '%') unary)*
//! unary   := ('-' | '+') unary | power
//! power   := primary (('^' | '**') unary)?      right-associative: 2^3^2 = 2^9
//! primary := number | '(' expr ')'
//! number  := digits ['.' digits] | '.' digits
//! ```
//!
//! As in mathematics, unary minus binds looser than `^`: `-2^2` is `-4`, while `2^-1` is `0.5`.
//! `%` is the remainder with the sign of the dividend (`-7 % 3` is `-1`). Every failure —
//! empty input, bad syntax, division by zero, a result that is not a finite number — is a
//! [`CalcError`], never a panic: the expression comes from the model.
//!
//! The tool is lenient in one way, see [`evaluate_lenient`]: models sometimes pass the whole
//! question ("What is 6 * 7?") instead of the expression, so when the input contains anything
//! that cannot be part of an expression, the longest arithmetic-looking substring is evaluated.

use std::fmt;

/// Deeper nesting is refused, so a hostile expression cannot exhaust the guest's stack.
const MAX_DEPTH: usize = 200;

/// Longer inputs are refused before parsing.
const MAX_LEN: usize = 10_000;

/// Integers up to 2^53 are exact in an `f64` and printed without a fraction.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Significant digits shown for non-integer results (hides binary rounding: 0.1 + 0.2 = 0.3).
const SIGNIFICANT_DIGITS: i32 = 12;

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum CalcError {
    /// Nothing to evaluate.
    Empty,
    /// No arithmetic found in a text that is not an expression itself.
    NoExpression,
    /// The input is longer than [`MAX_LEN`] characters.
    TooLong,
    /// Parentheses nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A character that has no place in an expression, at a character position.
    UnexpectedChar(char, usize),
    /// The expression ended where an operand or `)` was expected.
    UnexpectedEnd,
    /// A token (described) at a character position where it does not fit.
    Unexpected(String, usize),
    /// A malformed number such as `1.2.3`.
    BadNumber(String),
    /// A number too large for a 64-bit float (the digits are not kept).
    NumberTooLarge,
    /// `x / 0`.
    DivisionByZero,
    /// `x % 0`.
    ModuloByZero,
    /// The result (or an intermediate value) is infinite or not a number.
    NotFinite,
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalcError::Empty => write!(f, "the expression is empty"),
            CalcError::NoExpression => write!(f, "no arithmetic expression found in the input"),
            CalcError::TooLong => write!(f, "the expression is longer than {MAX_LEN} characters"),
            CalcError::TooDeep => write!(f, "parentheses are nested deeper than {MAX_DEPTH}"),
            CalcError::UnexpectedChar(c, at) => {
                write!(f, "unexpected character {c:?} at position {at}")
            }
            CalcError::UnexpectedEnd => write!(f, "the expression ends too early"),
            CalcError::Unexpected(what, at) => write!(f, "unexpected {what} at position {at}"),
            CalcError::BadNumber(s) => write!(f, "malformed number {s:?}"),
            CalcError::NumberTooLarge => write!(f, "a number is too large"),
            CalcError::DivisionByZero => write!(f, "division by zero"),
            CalcError::ModuloByZero => write!(f, "modulo by zero"),
            CalcError::NotFinite => write!(f, "the result is not a finite number"),
        }
    }
}

impl std::error::Error for CalcError {}

/// Evaluates `input`, accepting a whole sentence around the expression.
///
/// If `input` consists only of expression characters (digits, operators, parentheses, dots,
/// whitespace) it is evaluated strictly, so a genuinely malformed expression reports its
/// syntax error. Otherwise — the model passed the question rather than the expression — the
/// longest run of expression characters that contains a digit is evaluated ("What is
/// 6 * 7?" → `6 * 7`). Returns the value and the expression actually evaluated.
pub fn evaluate_lenient(input: &str) -> Result<(f64, String), CalcError> {
    if input.chars().count() > MAX_LEN {
        return Err(CalcError::TooLong);
    }
    if input.chars().all(is_expression_char) {
        let expr = input.trim();
        return evaluate(expr).map(|v| (v, expr.to_string()));
    }
    let expr = longest_arithmetic_run(input).ok_or(CalcError::NoExpression)?;
    evaluate(expr).map(|v| (v, expr.to_string()))
}

/// Evaluates an arithmetic expression strictly.
pub fn evaluate(input: &str) -> Result<f64, CalcError> {
    if input.chars().count() > MAX_LEN {
        return Err(CalcError::TooLong);
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(CalcError::Empty);
    }
    let mut parser = Parser {
        tokens: &tokens,
        pos: 0,
        depth: 0,
    };
    let value = parser.expr()?;
    if let Some((token, at)) = tokens.get(parser.pos) {
        return Err(CalcError::Unexpected(token.describe(), *at));
    }
    finite(value)
}

/// Formats a result: integers without a fraction, other values to 12 significant digits with
/// trailing zeros removed, very large or very small magnitudes in scientific notation.
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        // Also turns -0 into "0".
        return "0".to_string();
    }
    let magnitude = x.abs();
    if x.fract() == 0.0 && magnitude <= MAX_EXACT_INTEGER {
        // Exact: |x| <= 2^53 fits an i64 without loss.
        return format!("{}", x as i64);
    }
    if !(1e-6..1e15).contains(&magnitude) {
        return format!("{x:e}");
    }
    let exponent = magnitude.log10().floor() as i32;
    let decimals = (SIGNIFICANT_DIGITS - 1 - exponent).max(0) as usize;
    let fixed = format!("{x:.decimals$}");
    let trimmed = if fixed.contains('.') {
        fixed.trim_end_matches('0').trim_end_matches('.')
    } else {
        &fixed
    };
    if trimmed == "-0" {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

fn is_expression_char(c: char) -> bool {
    c.is_ascii_digit() || "+-*/%^().".contains(c) || c.is_whitespace()
}

/// The longest maximal run of expression characters containing a digit, trimmed; the first
/// one on ties. Parentheses left unbalanced by the surrounding prose ("(that is, 2+2)") are
/// trimmed from the ends, as is sentence punctuation like a final ".".
fn longest_arithmetic_run(input: &str) -> Option<&str> {
    let mut best: Option<&str> = None;
    for run in input.split(|c: char| !is_expression_char(c)) {
        let run = trim_run(run);
        if run.chars().any(|c| c.is_ascii_digit())
            && best.is_none_or(|b| run.chars().count() > b.chars().count())
        {
            best = Some(run);
        }
    }
    best
}

fn trim_run(mut run: &str) -> &str {
    loop {
        let before = run;
        run = run.trim();
        // A trailing "." ends the sentence ("... is 6 * 7."); as part of a number ("7.") it
        // would not change the value anyway.
        if let Some(rest) = run.strip_suffix('.') {
            run = rest;
        }
        let opens = run.matches('(').count();
        let closes = run.matches(')').count();
        if closes > opens
            && let Some(rest) = run.strip_suffix(')')
        {
            run = rest;
        } else if opens > closes
            && let Some(rest) = run.strip_prefix('(')
        {
            run = rest;
        }
        if run == before {
            return run;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Number(f64),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    LParen,
    RParen,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Number(n) => format!("number {}", format_number(*n)),
            Token::Plus => "'+'".into(),
            Token::Minus => "'-'".into(),
            Token::Star => "'*'".into(),
            Token::Slash => "'/'".into(),
            Token::Percent => "'%'".into(),
            Token::Caret => "'^'".into(),
            Token::LParen => "'('".into(),
            Token::RParen => "')'".into(),
        }
    }
}

/// Tokens with their character positions.
fn tokenize(input: &str) -> Result<Vec<(Token, usize)>, CalcError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let token = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '0'..='9' | '.' => {
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let valid = text.matches('.').count() <= 1 && text != ".";
                let value = valid
                    .then(|| text.parse::<f64>().ok())
                    .flatten()
                    .ok_or(CalcError::BadNumber(text))?;
                if !value.is_finite() {
                    return Err(CalcError::NumberTooLarge);
                }
                tokens.push((Token::Number(value), start));
                continue;
            }
            '+' => Token::Plus,
            '-' => Token::Minus,
            // `**` is accepted as power, as in Python.
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                Token::Caret
            }
            '*' => Token::Star,
            '/' => Token::Slash,
            '%' => Token::Percent,
            '^' => Token::Caret,
            '(' => Token::LParen,
            ')' => Token::RParen,
            other => return Err(CalcError::UnexpectedChar(other, start)),
        };
        i += 1;
        tokens.push((token, start));
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [(Token, usize)],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).map(|(t, _)| *t)
    }

    fn next(&mut self) -> Result<(Token, usize), CalcError> {
        let token = *self.tokens.get(self.pos).ok_or(CalcError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(token)
    }

    fn expr(&mut self) -> Result<f64, CalcError> {
        let mut value = self.term()?;
        while let Some(op @ (Token::Plus | Token::Minus)) = self.peek() {
            self.pos += 1;
            let rhs = self.term()?;
            value = finite(if op == Token::Plus {
                value + rhs
            } else {
                value - rhs
            })?;
        }
        Ok(value)
    }

    fn term(&mut self) -> Result<f64, CalcError> {
        let mut value = self.unary()?;
        while let Some(op @ (Token::Star | Token::Slash | Token::Percent)) = self.peek() {
            self.pos += 1;
            let rhs = self.unary()?;
            value = match op {
                Token::Star => value * rhs,
                Token::Slash if rhs == 0.0 => return Err(CalcError::DivisionByZero),
                Token::Slash => value / rhs,
                _ if rhs == 0.0 => return Err(CalcError::ModuloByZero),
                _ => value % rhs,
            };
            value = finite(value)?;
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<f64, CalcError> {
        match self.peek() {
            Some(Token::Minus) => {
                self.pos += 1;
                self.nested(|p| p.unary()).map(|v| -v)
            }
            Some(Token::Plus) => {
                self.pos += 1;
                self.nested(|p| p.unary())
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<f64, CalcError> {
        let base = self.primary()?;
        if self.peek() == Some(Token::Caret) {
            self.pos += 1;
            let exponent = self.nested(|p| p.unary())?;
            return finite(base.powf(exponent));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, CalcError> {
        match self.next()? {
            (Token::Number(n), _) => Ok(n),
            (Token::LParen, _) => {
                let value = self.nested(|p| p.expr())?;
                match self.next() {
                    Ok((Token::RParen, _)) => Ok(value),
                    Ok((token, at)) => Err(CalcError::Unexpected(
                        format!("{} (expected ')')", token.describe()),
                        at,
                    )),
                    Err(_) => Err(CalcError::Unexpected("end (expected ')')".into(), {
                        self.tokens.last().map_or(0, |(_, at)| at + 1)
                    })),
                }
            }
            (token, at) => Err(CalcError::Unexpected(token.describe(), at)),
        }
    }

    /// Runs `f` one nesting level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<f64, CalcError>,
    ) -> Result<f64, CalcError> {
        if self.depth >= MAX_DEPTH {
            return Err(CalcError::TooDeep);
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }
}

fn finite(x: f64) -> Result<f64, CalcError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(CalcError::NotFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(s: &str) -> String {
        format_number(evaluate(s).unwrap_or_else(|e| panic!("{s:?}: {e}")))
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(eval("6 * 7"), "42");
        assert_eq!(eval("1 + 2 * 3"), "7");
        assert_eq!(eval("(1 + 2) * 3"), "9");
        assert_eq!(eval("10 - 4 - 3"), "3");
        assert_eq!(eval("100 / 10 / 5"), "2");
        assert_eq!(eval("2 ^ 3 ^ 2"), "512");
        assert_eq!(eval("2 ** 10"), "1024");
        assert_eq!(eval("2 * 3 ^ 2"), "18");
        assert_eq!(eval("17 % 5"), "2");
        assert_eq!(eval("-7 % 3"), "-1");
        assert_eq!(eval("((((2))))"), "2");
    }

    #[test]
    fn unary_minus() {
        assert_eq!(eval("-3"), "-3");
        assert_eq!(eval("--3"), "3");
        assert_eq!(eval("-2 ^ 2"), "-4");
        assert_eq!(eval("(-2) ^ 2"), "4");
        assert_eq!(eval("2 ^ -1"), "0.5");
        assert_eq!(eval("3 - -2"), "5");
        assert_eq!(eval("+4"), "4");
        assert_eq!(eval("-(1 + 2) * 3"), "-9");
    }

    #[test]
    fn decimals_and_formatting() {
        assert_eq!(eval("0.1 + 0.2"), "0.3");
        assert_eq!(eval(".5 * 4"), "2");
        assert_eq!(eval("1 / 3"), "0.333333333333");
        assert_eq!(eval("2 / 3"), "0.666666666667");
        assert_eq!(eval("3.25 * 2"), "6.5");
        assert_eq!(eval("1.5 - 1.5"), "0");
        assert_eq!(eval("-0.5 * 0"), "0");
        assert_eq!(eval("1234567.891"), "1234567.891");
        assert_eq!(eval("2 ^ 53"), "9007199254740992");
        assert_eq!(eval("2 ^ 64"), "1.8446744073709552e19");
        assert_eq!(eval("1 / 10000000"), "1e-7");
        assert_eq!(eval("7."), "7");
    }

    #[test]
    fn errors() {
        assert_eq!(evaluate(""), Err(CalcError::Empty));
        assert_eq!(evaluate("   "), Err(CalcError::Empty));
        assert_eq!(evaluate("1 / 0"), Err(CalcError::DivisionByZero));
        assert_eq!(evaluate("1 / (2 - 2)"), Err(CalcError::DivisionByZero));
        assert_eq!(evaluate("5 % 0"), Err(CalcError::ModuloByZero));
        assert_eq!(evaluate("2 +"), Err(CalcError::UnexpectedEnd));
        assert_eq!(
            evaluate("(1 + 2"),
            Err(CalcError::Unexpected("end (expected ')')".into(), 6))
        );
        assert_eq!(
            evaluate("1 + 2)"),
            Err(CalcError::Unexpected("')'".into(), 5))
        );
        assert_eq!(
            evaluate("1 2"),
            Err(CalcError::Unexpected("number 2".into(), 2))
        );
        assert_eq!(evaluate("* 3"), Err(CalcError::Unexpected("'*'".into(), 0)));
        assert_eq!(evaluate("()"), Err(CalcError::Unexpected("')'".into(), 1)));
        assert_eq!(evaluate("1.2.3"), Err(CalcError::BadNumber("1.2.3".into())));
        assert_eq!(evaluate("."), Err(CalcError::BadNumber(".".into())));
        assert_eq!(evaluate("2 x 3"), Err(CalcError::UnexpectedChar('x', 2)));
        assert_eq!(evaluate("10 ^ 400"), Err(CalcError::NotFinite));
        assert_eq!(evaluate(&"9".repeat(400)), Err(CalcError::NumberTooLarge));
        assert_eq!(evaluate("(-8) ^ 0.5"), Err(CalcError::NotFinite));
        assert_eq!(evaluate("0 ^ -1"), Err(CalcError::NotFinite));
    }

    #[test]
    fn hostile_inputs_fail_cleanly() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(evaluate(&deep), Err(CalcError::TooLong));
        let deep = format!("{}1{}", "(".repeat(1_000), ")".repeat(1_000));
        assert_eq!(evaluate(&deep), Err(CalcError::TooDeep));
        assert_eq!(evaluate(&"-".repeat(5_000)), Err(CalcError::TooDeep));
        assert_eq!(evaluate(&"2^".repeat(1_000)), Err(CalcError::TooDeep));
        let ok = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(evaluate(&ok), Ok(1.0));
    }

    #[test]
    fn lenient_takes_the_expression_out_of_a_question() {
        let lenient = |s: &str| evaluate_lenient(s).map(|(v, e)| (format_number(v), e));
        assert_eq!(lenient("What is 6 * 7?"), Ok(("42".into(), "6 * 7".into())));
        assert_eq!(
            lenient("Compute (3 + 4) * 2 please"),
            Ok(("14".into(), "(3 + 4) * 2".into()))
        );
        assert_eq!(
            lenient("what's 2^10 - 1, roughly"),
            Ok(("1023".into(), "2^10 - 1".into()))
        );
        assert_eq!(
            lenient("The answer is 6 * 7."),
            Ok(("42".into(), "6 * 7".into()))
        );
        assert_eq!(lenient("(that is, 2+2)"), Ok(("4".into(), "2+2".into())));
        assert_eq!(lenient("x = 1.5 * 4"), Ok(("6".into(), "1.5 * 4".into())));
        assert_eq!(lenient("  12 / 4  "), Ok(("3".into(), "12 / 4".into())));
        assert_eq!(lenient("example"), Err(CalcError::NoExpression));
        assert_eq!(lenient(""), Err(CalcError::Empty));
        // Only expression characters: strict, so the real syntax error is reported.
        assert_eq!(
            lenient("2 + * 3"),
            Err(CalcError::Unexpected("'*'".into(), 4))
        );
        // The extracted part is evaluated strictly too.
        assert_eq!(lenient("What is 1 / 0?"), Err(CalcError::DivisionByZero));
    }
}
