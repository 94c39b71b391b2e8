//! Helpers shared by the identifier parsers: the Luhn check digit and the words the
//! Swedish error messages use for characters and counts.

/// Luhn check digit over nine digits, as for personnummer: weights 2,1,2,…, digit sums of
/// the products, then (10 − sum mod 10) mod 10. Swedish organisation numbers use it too.
pub(crate) fn luhn_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let product = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            // A product is at most 18, so its digit sum is product − 9 when above 9.
            if product > 9 {
                product - 9
            } else {
                product
            }
        })
        .sum();
    // The result is below 10, so it fits a u8.
    ((10 - sum % 10) % 10) as u8
}

/// Names a character for the Swedish messages: `tecknet 'x'`, or a word for one that
/// cannot be seen. Always a neuter noun in definite form, so "… är inte tillåtet" fits.
pub(crate) fn char_sv(ch: char) -> String {
    match ch {
        ' ' => "mellanslaget".to_owned(),
        '\u{a0}' => "det hårda mellanslaget".to_owned(),
        '\t' => "tabbtecknet".to_owned(),
        '\'' => "apostroftecknet (')".to_owned(),
        _ if ch.is_whitespace() => format!("blanktecknet U+{:04X}", u32::from(ch)),
        _ if ch.is_control() || is_invisible_format_char(ch) => {
            format!("det osynliga tecknet U+{:04X}", u32::from(ch))
        }
        _ => format!("tecknet '{ch}'"),
    }
}

/// Invisible formatting characters that come along when text is copied from documents
/// and web pages (soft hyphen, zero-width spaces and joiners, direction marks, BOM).
fn is_invisible_format_char(ch: char) -> bool {
    matches!(
        ch,
        '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
    )
}

/// "1 siffra", "11 siffror".
pub(crate) fn digits_sv(n: usize) -> String {
    if n == 1 {
        "1 siffra".to_owned()
    } else {
        format!("{n} siffror")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_matches_known_numbers() {
        // 19121212-1212 (Skatteverket test number) and Region Blekinge's 232100-0081.
        assert_eq!(luhn_check_digit(&[1, 2, 1, 2, 1, 2, 1, 2, 1]), 2);
        assert_eq!(luhn_check_digit(&[2, 3, 2, 1, 0, 0, 0, 0, 8]), 1);
    }
}
