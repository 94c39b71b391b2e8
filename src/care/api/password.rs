//! Passwords and API tokens: the rules a new password must meet (Swedish messages), its
//! Argon2id hash, its verification, and the random tokens scripts use.
//!
//! Argon2id (RFC 9106) with m = 19 MiB, t = 2, p = 1, a 16-byte salt from the node's RNG and
//! a 32-byte output: OWASP's first recommended setting, about 20–40 ms per hash on one core
//! of this project's machines. The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) carries
//! its parameters, so they can be raised later without breaking stored hashes; a hash asking
//! for more than [`MEMORY_KIB_MAX`] or [`TIME_COST_MAX`] is refused rather than computed.
//! Hashing and verifying are deliberately slow: callers on an async runtime run them on a
//! blocking thread (the socket and [`crate::daemon::NodeHandle`] do).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::types::{refused, ApiError, CareNode};

/// Argon2id memory cost, KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes.
pub const TIME_COST: u32 = 2;
/// Argon2id lanes.
pub const PARALLELISM: u32 = 1;
/// The most memory a stored hash may ask for (KiB): a bound on what verifying costs.
pub const MEMORY_KIB_MAX: u32 = 256 * 1024;
/// The most passes a stored hash may ask for.
pub const TIME_COST_MAX: u32 = 10;
/// The shortest password, in characters.
pub const PASSWORD_CHARS_MIN: usize = 10;
/// The longest password, in characters.
pub const PASSWORD_CHARS_MAX: usize = 128;

/// A secret as typed (a password or a token): never printed by `Debug`, wiped when dropped.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// Its text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(«dolt»)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn argon2() -> Argon2<'static> {
    // The constants are valid parameters (checked by a test).
    let params =
        Params::new(MEMORY_KIB, TIME_COST, PARALLELISM, None).unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password against the rules: at least [`PASSWORD_CHARS_MIN`] characters, at
/// most [`PASSWORD_CHARS_MAX`], not the login (in any case), not only one character
/// repeated.
pub fn check_new(login: &str, password: &Secret) -> Result<(), ApiError> {
    let p = password.expose();
    let n = p.chars().count();
    if n < PASSWORD_CHARS_MIN {
        return Err(refused(format!(
            "lösenordet är för kort: minst {PASSWORD_CHARS_MIN} tecken"
        )));
    }
    if n > PASSWORD_CHARS_MAX {
        return Err(refused(format!(
            "lösenordet är för långt: högst {PASSWORD_CHARS_MAX} tecken"
        )));
    }
    if p.trim().to_lowercase() == login.trim().to_lowercase() {
        return Err(refused(
            "lösenordet får inte vara samma som inloggningsnamnet",
        ));
    }
    if p.chars().any(char::is_control) {
        return Err(refused("lösenordet får inte innehålla styrtecken"));
    }
    let mut chars = p.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(refused("lösenordet får inte bestå av ett och samma tecken"));
    }
    Ok(())
}

/// The Argon2id hash (PHC string) of `password`, salted from the node's RNG.
pub fn hash(node: &dyn CareNode, password: &Secret) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    node.fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| refused(format!("lösenordet kunde inte sparas: {e}")))?;
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| refused(format!("lösenordet kunde inte sparas: {e}")))
}

/// Whether `password` matches the stored `phc` hash. A hash that does not read, is not
/// Argon2id, or asks for more than the bounds is no match.
pub fn verify(phc: &str, password: &Secret) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MEMORY_KIB_MAX || params.t_cost() > TIME_COST_MAX {
        return false;
    }
    argon2()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// Verifies against a fixed hash of nothing anyone knows, so an unknown login takes as long
/// as a wrong password.
pub fn verify_nothing(password: &Secret) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| {
        SaltString::encode_b64(b"reservnod-dummy!")
            .ok()
            .and_then(|salt| {
                argon2()
                    .hash_password(b"no account has this password", &salt)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    });
    let _ = verify(phc, password);
}

/// Characters of a generated password: no i, l, o or 1, nothing to misread when it is
/// read aloud or copied from paper; 32 of them, so a byte picks one evenly.
const READABLE: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";

/// A password as a person can copy it: `bytes` as 16 characters of [`READABLE`] (80 bits)
/// in four groups (`k7mq-x3pa-…`, 19 characters), which meets [`check_new`].
pub fn readable(bytes: &[u8; 16]) -> Secret {
    let mut out = String::with_capacity(19);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // 256 is a multiple of 32: every character is equally likely.
        out.push(char::from(READABLE[usize::from(*b) % 32]));
    }
    Secret::new(out)
}

/// A new password from the node's RNG, for an administrator to hand over ([`readable`]).
pub fn generate(node: &dyn CareNode) -> Secret {
    let mut bytes = zeroize::Zeroizing::new([0u8; 16]);
    node.fill_random(bytes.as_mut());
    readable(&bytes)
}

/// The prefix of every API token.
pub const TOKEN_PREFIX: &str = "rnt_";

/// A new API token: its public id, its secret as shown once (`rnt_<id>_<secret>`, hex), and
/// the hash the node keeps.
pub fn new_token(node: &dyn CareNode) -> ([u8; 8], Secret, [u8; 32]) {
    let mut id = [0u8; 8];
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    node.fill_random(&mut id);
    node.fill_random(secret.as_mut());
    let text = format!(
        "{TOKEN_PREFIX}{}_{}",
        data_encoding::HEXLOWER.encode(&id),
        data_encoding::HEXLOWER.encode(secret.as_ref())
    );
    (id, Secret::new(text), token_hash(secret.as_ref()))
}

/// What is kept of a token's secret.
pub fn token_hash(secret: &[u8]) -> [u8; 32] {
    *blake3::hash(secret).as_bytes()
}

/// A token as a script presents it: its id and secret, or None if it is not one.
pub fn parse_token(typed: &str) -> Option<([u8; 8], zeroize::Zeroizing<Vec<u8>>)> {
    let rest = typed.trim().strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id: [u8; 8] = data_encoding::HEXLOWER_PERMISSIVE
        .decode(id.as_bytes())
        .ok()?
        .try_into()
        .ok()?;
    let secret = zeroize::Zeroizing::new(
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(secret.as_bytes())
            .ok()?,
    );
    (secret.len() == 32).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameters_are_valid_and_a_hash_verifies_only_its_password() {
        assert!(Params::new(MEMORY_KIB, TIME_COST, PARALLELISM, None).is_ok());
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
        let phc = argon2()
            .hash_password(b"korrekt hast batteri", &salt)
            .expect("hash")
            .to_string();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&phc, &Secret::new("korrekt hast batteri")));
        assert!(!verify(&phc, &Secret::new("korrekt hast batteri ")));
        assert!(!verify("not a hash", &Secret::new("x")));
        // A hash asking for too much memory is not computed.
        let greedy = phc.replace("m=19456", "m=1048576");
        assert!(!verify(&greedy, &Secret::new("korrekt hast batteri")));
        // Nor one of another algorithm.
        assert!(!verify(
            &phc.replace("argon2id", "argon2i"),
            &Secret::new("korrekt hast batteri")
        ));
    }

    #[test]
    fn password_rules_say_why_in_swedish() {
        let ok = |p: &str| check_new("sara", &Secret::new(p));
        assert!(ok("lång nog fras").is_ok());
        for (p, why) in [
            ("kort", "för kort"),
            ("SARA", "för kort"),
            ("aaaaaaaaaaaa", "ett och samma tecken"),
        ] {
            let e = ok(p).expect_err(p).to_string();
            assert!(e.contains(why), "{p}: {e}");
        }
        let e = check_new("sjuksköterska1", &Secret::new("Sjuksköterska1"))
            .expect_err("the login")
            .to_string();
        assert!(e.contains("inloggningsnamnet"), "{e}");
        assert!(ok(&"x".repeat(129).replace('x', "xy")).is_err());
        assert!(ok("tio tecken\n").is_err());
        assert_eq!(format!("{:?}", Secret::new("hemligt")), "Secret(«dolt»)");
    }

    #[test]
    fn a_generated_password_meets_the_rules_and_reads_unambiguously() {
        for seed in [[0u8; 16], [255u8; 16], *b"0123456789abcdef"] {
            let p = readable(&seed);
            assert_eq!(p.expose().len(), 19, "{}", p.expose());
            assert_eq!(p.expose().matches('-').count(), 3);
            assert!(!p.expose().contains(['i', 'l', 'o', '1']));
            // Even sixteen equal bytes: one character repeated, with hyphens, is allowed.
            check_new("sara", &p).expect("a generated password meets the rules");
        }
        assert_ne!(readable(&[1; 16]).expose(), readable(&[2; 16]).expose());
    }

    #[test]
    fn a_token_reads_back_and_anything_else_is_none() {
        let id = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let secret = [9u8; 32];
        let text = format!(
            "rnt_{}_{}",
            data_encoding::HEXLOWER.encode(&id),
            data_encoding::HEXLOWER.encode(&secret)
        );
        let (i, s) = parse_token(&text).expect("a token");
        assert_eq!((i, s.as_slice()), (id, &secret[..]));
        for bad in [
            "",
            "rnt_",
            "rnt_0102_ff",
            "xyz_0102030405060708_00",
            &text[..text.len() - 2],
        ] {
            assert!(parse_token(bad).is_none(), "{bad}");
        }
    }
}
