//! Exact, checked money arithmetic: every `+`, `-`, `*`, `/` and sum on a
//! [`Decimal`] in this crate goes through this module.
//!
//! rust_decimal's operators (`+`, `-`, `*`, `/`, `+=`, `Iterator::sum`) panic
//! on overflow, and its `checked_*` methods round without saying so when the
//! exact result needs more digits than a `Decimal` holds (a 96-bit mantissa,
//! at most 28 decimal places). A bill must be neither: each function here
//! computes the exact result in a 256-bit integer and returns it only when a
//! `Decimal` holds it exactly, or says why not ([`MoneyError`]). The callers
//! turn that into an incomplete cost with a reason (the component is left
//! out, so the figures are a lower bound), never a panic, never a wrapped,
//! saturated or rounded figure.
//!
//! [`parse_decimal`] reads a decimal written in a price or rate file with the
//! same rule: the number written, exactly, or an error.
//!
//! ```
//! use chatobs_runtime::cost::money::{self, MoneyError};
//! use rust_decimal::Decimal;
//! // 1 200 tokens at 0.075 USD per 1M tokens
//! let rate = money::div_exact(Decimal::new(75, 3), 1_000_000).unwrap();
//! assert_eq!(money::mul_units(1200, rate), Ok(Decimal::new(9, 5)));
//! assert_eq!(money::add(Decimal::MAX, Decimal::ONE), Err(MoneyError::Overflow));
//! // 10 + 1e-28 needs 30 significant digits: rust_decimal would round it
//! assert_eq!(money::add(Decimal::TEN, Decimal::new(1, 28)), Err(MoneyError::Precision));
//! ```

use rust_decimal::Decimal;
use std::cmp::Ordering;
use std::fmt;

/// Why an exact figure cannot be a [`Decimal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoneyError {
    /// Its integer part is beyond ±79 228 162 514 264 337 593 543 950 335
    /// (`Decimal::MAX`).
    Overflow,
    /// It fits in magnitude but needs more significant digits than a decimal
    /// holds (a 96-bit mantissa with at most 28 decimal places): it would be
    /// rounded.
    Precision,
}

impl MoneyError {
    /// `overflow` or `precision`.
    pub fn as_str(self) -> &'static str {
        match self {
            MoneyError::Overflow => "overflow",
            MoneyError::Precision => "precision",
        }
    }
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::Overflow => {
                "the exact figure is beyond the decimal range (±79228162514264337593543950335)"
            }
            MoneyError::Precision => {
                "the exact figure needs more digits than a decimal holds (28 decimal places, 96-bit mantissa) and would be rounded"
            }
        })
    }
}

impl std::error::Error for MoneyError {}

/// Largest scale (decimal places) of a [`Decimal`].
const MAX_SCALE: u32 = 28;

// ---- a 256-bit unsigned integer, just enough for exact decimal arithmetic ---------------
//
// Mantissas are below 2^96; a product of two is below 2^192, and aligning a
// mantissa to a larger scale multiplies it by at most 10^28 < 2^94 (below
// 2^190), so 256 bits never overflow here (the helpers still check).

/// Little-endian 64-bit limbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct U256([u64; 4]);

// The limb arithmetic below is on u128 values proved in range at each line
// (a 64×64-bit product plus two 64-bit addends is below 2^128; indexes are
// below 8); it is the one place of this crate allowed plain operators.
#[allow(clippy::arithmetic_side_effects)]
impl U256 {
    fn from_u128(x: u128) -> U256 {
        // Truncating casts on purpose: the low and high 64 bits.
        U256([x as u64, (x >> 64) as u64, 0, 0])
    }

    fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    /// Whether the value is below 2^96 (fits a decimal mantissa).
    fn fits_96(&self) -> bool {
        self.0[3] == 0 && self.0[2] == 0 && self.0[1] >> 32 == 0
    }

    /// The low 128 bits.
    fn low_u128(&self) -> u128 {
        (u128::from(self.0[1]) << 64) | u128::from(self.0[0])
    }

    fn checked_add(&self, o: &U256) -> Option<U256> {
        let mut out = [0u64; 4];
        let mut carry = 0u128;
        for (i, slot) in out.iter_mut().enumerate() {
            let s = u128::from(self.0[i]) + u128::from(o.0[i]) + carry;
            *slot = s as u64; // low 64 bits
            carry = s >> 64;
        }
        (carry == 0).then_some(U256(out))
    }

    /// `self - o`, for `self >= o`.
    fn sub_smaller(&self, o: &U256) -> U256 {
        let mut out = [0u64; 4];
        let mut borrow = false;
        for (i, slot) in out.iter_mut().enumerate() {
            let (d1, b1) = self.0[i].overflowing_sub(o.0[i]);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *slot = d2;
            borrow = b1 || b2;
        }
        U256(out)
    }

    fn checked_mul(&self, o: &U256) -> Option<U256> {
        // Schoolbook on 64-bit limbs, 128-bit partial products; anything
        // landing above limb 3 is an overflow.
        let mut out = [0u64; 8];
        for i in 0..4 {
            let mut carry = 0u128;
            for j in 0..4 {
                // a*b + c + d <= (2^64-1)^2 + 2(2^64-1) = 2^128 - 1: no overflow.
                let t = u128::from(self.0[i]) * u128::from(o.0[j]) + u128::from(out[i + j]) + carry;
                out[i + j] = t as u64; // low 64 bits
                carry = t >> 64;
            }
            out[i + 4] = carry as u64; // below 2^64 by the bound above
        }
        if out[4..].iter().any(|&l| l != 0) {
            return None;
        }
        Some(U256([out[0], out[1], out[2], out[3]]))
    }

    /// Quotient and remainder of the division by a small divisor.
    fn div_rem_small(&self, d: u64) -> (U256, u64) {
        let mut q = [0u64; 4];
        let mut rem = 0u128;
        for i in (0..4).rev() {
            let cur = (rem << 64) | u128::from(self.0[i]);
            // d >= 2 at every call site; cur / d < 2^64 because rem < d.
            q[i] = (cur / u128::from(d.max(1))) as u64;
            rem = cur % u128::from(d.max(1));
        }
        (U256(q), rem as u64)
    }

    fn cmp(&self, o: &U256) -> Ordering {
        for i in (0..4).rev() {
            match self.0[i].cmp(&o.0[i]) {
                Ordering::Equal => continue,
                other => return other,
            }
        }
        Ordering::Equal
    }
}

/// 10^k for k <= 28 (below 2^94).
fn pow10(k: u32) -> U256 {
    U256::from_u128(10u128.pow(k.min(MAX_SCALE)))
}

/// An exact decimal: `(-1)^neg × mag × 10^-scale`.
#[derive(Clone, Copy, Debug)]
struct Exact {
    neg: bool,
    mag: U256,
    scale: u32,
}

impl Exact {
    fn of(d: Decimal) -> Exact {
        let m = d.mantissa();
        Exact {
            neg: m < 0,
            mag: U256::from_u128(m.unsigned_abs()),
            scale: d.scale(),
        }
    }

    /// The decimal holding exactly this value, or why none does. Trailing
    /// zeros are dropped only while that is needed to fit (so `0.10 + 0.20`
    /// keeps rust_decimal's scale of 2).
    fn to_decimal(self) -> Result<Decimal, MoneyError> {
        let Exact {
            neg,
            mut mag,
            mut scale,
        } = self;
        loop {
            if mag.fits_96() && scale <= MAX_SCALE {
                // Below 2^96, so the cast to i128 is exact and non-negative.
                let m = mag.low_u128() as i128;
                let v = if neg { m.saturating_neg() } else { m };
                return Decimal::try_from_i128_with_scale(v, scale)
                    .map_err(|_| MoneyError::Overflow);
            }
            if scale == 0 {
                return Err(MoneyError::Overflow);
            }
            let (q, r) = mag.div_rem_small(10);
            if r != 0 {
                // A nonzero digit would be lost: too many digits. Say
                // overflow when even the integer part does not fit.
                let mut int = mag;
                for _ in 0..scale {
                    int = int.div_rem_small(10).0;
                }
                return Err(if int.fits_96() {
                    MoneyError::Precision
                } else {
                    MoneyError::Overflow
                });
            }
            mag = q;
            scale = scale.saturating_sub(1);
        }
    }

    fn aligned(&self, scale: u32) -> Option<U256> {
        self.mag
            .checked_mul(&pow10(scale.saturating_sub(self.scale)))
    }

    fn add(a: Exact, b: Exact) -> Result<Exact, MoneyError> {
        let scale = a.scale.max(b.scale);
        let (x, y) = match (a.aligned(scale), b.aligned(scale)) {
            (Some(x), Some(y)) => (x, y),
            _ => return Err(MoneyError::Overflow),
        };
        let (neg, mag) = if a.neg == b.neg {
            (a.neg, x.checked_add(&y).ok_or(MoneyError::Overflow)?)
        } else {
            match x.cmp(&y) {
                Ordering::Less => (b.neg, y.sub_smaller(&x)),
                _ => (a.neg, x.sub_smaller(&y)),
            }
        };
        Ok(Exact {
            neg: neg && !mag.is_zero(),
            mag,
            scale,
        })
    }

    fn mul(a: Exact, b: Exact) -> Result<Exact, MoneyError> {
        let mag = a.mag.checked_mul(&b.mag).ok_or(MoneyError::Overflow)?;
        Ok(Exact {
            neg: (a.neg != b.neg) && !mag.is_zero(),
            mag,
            scale: a.scale.saturating_add(b.scale),
        })
    }
}

/// `a + b`, exactly.
pub fn add(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    match add_small(a, b) {
        Some(d) => Ok(d),
        None => add_exact(a, b),
    }
}

fn add_exact(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    Exact::add(Exact::of(a), Exact::of(b))?.to_decimal()
}

/// Below 2^96 the 256-bit path keeps every digit and the larger scale, so
/// the same decimal comes from `i128` arithmetic (checked: anything larger
/// takes the exact path). Prices and totals are almost always this small.
fn small(m: i128, scale: u32) -> Option<Decimal> {
    if scale > MAX_SCALE || m.unsigned_abs() >= 1u128 << 96 {
        return None;
    }
    Decimal::try_from_i128_with_scale(m, scale).ok()
}

/// [`add`] when the sum, at the larger scale, is below 2^96.
fn add_small(a: Decimal, b: Decimal) -> Option<Decimal> {
    let s = a.scale().max(b.scale());
    let x = a
        .mantissa()
        .checked_mul(10i128.checked_pow(s.checked_sub(a.scale())?)?)?;
    let y = b
        .mantissa()
        .checked_mul(10i128.checked_pow(s.checked_sub(b.scale())?)?)?;
    small(x.checked_add(y)?, s)
}

/// [`mul`] when the product of the mantissas is below 2^96 and the scales
/// add up to at most 28.
fn mul_small(a: Decimal, b: Decimal) -> Option<Decimal> {
    small(
        a.mantissa().checked_mul(b.mantissa())?,
        a.scale().checked_add(b.scale())?,
    )
}

/// `a - b`, exactly.
pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    let mut minus_b = b;
    minus_b.set_sign_negative(!b.is_sign_negative());
    if let Some(d) = add_small(a, minus_b) {
        return Ok(d);
    }
    let mut nb = Exact::of(b);
    nb.neg = !nb.neg && !nb.mag.is_zero();
    Exact::add(Exact::of(a), nb)?.to_decimal()
}

/// `a × b`, exactly.
pub fn mul(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    match mul_small(a, b) {
        Some(d) => Ok(d),
        None => mul_exact(a, b),
    }
}

fn mul_exact(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    Exact::mul(Exact::of(a), Exact::of(b))?.to_decimal()
}

/// `n × rate` (a count of tokens, characters or messages times a unit price), exactly.
pub fn mul_units(n: u64, rate: Decimal) -> Result<Decimal, MoneyError> {
    mul(Decimal::from(n), rate)
}

/// `a / n` (a price per `n` units scaled to one unit), only when the
/// quotient is exact: `1 / 3` is [`MoneyError::Precision`]. `n = 0` is
/// [`MoneyError::Overflow`].
pub fn div_exact(a: Decimal, n: u64) -> Result<Decimal, MoneyError> {
    if n == 0 {
        return Err(MoneyError::Overflow);
    }
    let q = a
        .checked_div(Decimal::from(n))
        .ok_or(MoneyError::Overflow)?;
    // rust_decimal rounds an inexact quotient: keep q only if q × n gives a back.
    match mul_units(n, q) {
        Ok(back) if back == a => Ok(q),
        _ => Err(MoneyError::Precision),
    }
}

/// The exact sum of `items` (zero when empty).
pub fn sum(items: impl IntoIterator<Item = Decimal>) -> Result<Decimal, MoneyError> {
    items.into_iter().try_fold(Decimal::ZERO, add)
}

// ---- parsing --------------------------------------------------------------------------

/// Reads a decimal number written in a price or rate file, exactly:
/// `"0.075"`, `"12"`, `"+1_000.5"`, `".5"`, `"7.5e-8"`, `"1E3"`, with
/// surrounding spaces. Returns the error's reason (the caller adds the file
/// and key): not a number (`"NaN"`, `"inf"`, `"0x10"`, `""`, `"1.2.3"`), or a
/// number a decimal cannot hold exactly (too large, or more than 28 decimal
/// places / 28 significant digits: it would be rounded).
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let s = text.trim();
    let shown = shown(s);
    let not_a_number = || format!("{shown} is not a decimal number");
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or("")),
        Some(b'+') => (false, s.get(1..).unwrap_or("")),
        _ => (false, s),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (
            body.get(..i).unwrap_or(""),
            Some(body.get(i.saturating_add(1)..).unwrap_or("")),
        ),
        None => (body, None),
    };
    // Digits with at most one '.', '_' only between two digits (as rust_decimal allows).
    let mut int_digits = String::new();
    let mut frac_digits = String::new();
    let mut seen_dot = false;
    let mut prev_digit = false;
    let bytes = mantissa.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                if seen_dot {
                    frac_digits.push(char::from(b));
                } else {
                    int_digits.push(char::from(b));
                }
                prev_digit = true;
            }
            b'.' if !seen_dot => {
                seen_dot = true;
                prev_digit = false;
            }
            b'_' if prev_digit
                && bytes
                    .get(i.saturating_add(1))
                    .is_some_and(u8::is_ascii_digit) => {}
            _ => return Err(not_a_number()),
        }
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(not_a_number());
    }
    // The exponent: an optional sign and digits. Its size only matters up to
    // a bound (a nonzero number with |exponent| > 100 000 is out of range
    // whatever its digits), so it is clamped rather than parsed in full.
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (eneg, edigits) = match e.as_bytes().first() {
                Some(b'-') => (true, e.get(1..).unwrap_or("")),
                Some(b'+') => (false, e.get(1..).unwrap_or("")),
                _ => (false, e),
            };
            if edigits.is_empty() || !edigits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number());
            }
            let t = edigits.trim_start_matches('0');
            let v: i64 = if t.len() > 6 {
                1_000_000
            } else {
                t.parse().unwrap_or(0)
            };
            if eneg {
                v.saturating_neg()
            } else {
                v
            }
        }
    };
    // value = digits × 10^-(scale), with leading zeros dropped.
    let mut digits = format!("{int_digits}{frac_digits}");
    let lead = digits
        .len()
        .saturating_sub(digits.trim_start_matches('0').len());
    digits.drain(..lead);
    // frac_digits.len() <= text length, far below i64::MAX.
    let mut scale: i64 = i64::try_from(frac_digits.len())
        .unwrap_or(i64::MAX)
        .saturating_sub(exp);
    if digits.is_empty() {
        // Zero, whatever the exponent (and "-0" is zero).
        return Ok(Decimal::ZERO);
    }
    while scale > 0 && digits.ends_with('0') {
        digits.pop();
        scale = scale.saturating_sub(1);
    }
    let too_large =
        || format!("{shown} is too large for a decimal (at most 79228162514264337593543950335)");
    let too_precise = || {
        format!("{shown} has more digits than a decimal holds exactly (at most 28 decimal places and 28 significant digits)")
    };
    if scale < 0 {
        // An integer with -scale trailing zeros.
        let zeros = scale.unsigned_abs();
        if zeros > 29 || (digits.len() as u64).saturating_add(zeros) > 29 {
            return Err(too_large());
        }
        digits.extend(std::iter::repeat_n('0', zeros as usize));
        scale = 0;
    }
    // Too large when the integer part alone does not fit 96 bits...
    let int_len = (digits.len() as i64).saturating_sub(scale);
    if int_len > 29 {
        return Err(too_large());
    }
    if int_len == 29 {
        // 29 digits are below 10^29 < 2^97: they fit u128.
        let int: u128 = digits
            .get(..29)
            .and_then(|d| d.parse().ok())
            .ok_or_else(not_a_number)?;
        if int >> 96 != 0 {
            return Err(too_large());
        }
    }
    // ...otherwise too precise when the digits do not.
    if scale > i64::from(MAX_SCALE) || digits.len() > 29 {
        return Err(too_precise());
    }
    let m: u128 = digits.parse().map_err(|_| not_a_number())?;
    if m >> 96 != 0 {
        return Err(too_precise());
    }
    let v = if neg {
        (m as i128).saturating_neg()
    } else {
        m as i128
    };
    // scale is in 0..=28 here.
    Decimal::try_from_i128_with_scale(v, u32::try_from(scale).unwrap_or(MAX_SCALE))
        .map_err(|_| too_large())
}

/// `s` quoted for an error message, cut to 40 characters (a file may hold
/// anything: its errors stay one short line).
fn shown(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}...", s.get(..i).unwrap_or("")),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod small_path {
    use super::*;
    use proptest::prelude::*;

    /// Any decimal: a mantissa below 2^96 in magnitude, scale 0..=28, with
    /// small and boundary mantissas drawn often.
    fn decimal() -> impl Strategy<Value = Decimal> {
        let m = prop_oneof![
            -1_000_000_000i128..1_000_000_000,
            -(1i128 << 96) + 1..(1i128 << 96),
            Just((1i128 << 96) - 1),
            Just(-(1i128 << 96) + 1),
            Just(0i128),
        ];
        (m, 0u32..=28).prop_map(|(m, s)| Decimal::from_i128_with_scale(m, s))
    }

    fn same(x: Result<Decimal, MoneyError>, y: Result<Decimal, MoneyError>) {
        match (x, y) {
            // The same value *and* the same scale: "0.0125" is never "0.01250".
            (Ok(a), Ok(b)) => {
                assert_eq!((a, a.scale(), a.to_string()), (b, b.scale(), b.to_string()))
            }
            (a, b) => assert_eq!(a, b),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn the_small_path_gives_what_the_exact_path_gives(a in decimal(), b in decimal()) {
            same(add(a, b), add_exact(a, b));
            same(mul(a, b), mul_exact(a, b));
            same(sub(a, b), {
                let mut nb = Exact::of(b);
                nb.neg = !nb.neg && !nb.mag.is_zero();
                Exact::add(Exact::of(a), nb).and_then(|e| e.to_decimal())
            });
        }
    }

    #[test]
    fn the_small_path_is_taken_for_prices_and_left_at_the_boundary() {
        let p = Decimal::new(125, 7); // 0.0000125
        assert_eq!(
            add_small(p, Decimal::new(25, 3))
                .map(|d| d.to_string())
                .as_deref(),
            Some("0.0250125")
        );
        assert_eq!(
            mul_small(Decimal::from(900u64), p)
                .map(|d| d.to_string())
                .as_deref(),
            Some("0.0112500")
        );
        // 2^96 - 1 + 1 needs 97 bits: the exact path answers (and says why not).
        let top = Decimal::from_i128_with_scale((1i128 << 96) - 1, 0);
        assert_eq!(add_small(top, Decimal::ONE), None);
        assert_eq!(add(top, Decimal::ONE), Err(MoneyError::Overflow));
        // Scales adding up past 28 are left to the exact path.
        let tiny = Decimal::from_i128_with_scale(1, 20);
        assert_eq!(mul_small(tiny, tiny), None);
    }
}
