//! Display names: what a player may be called, and when two names are the same name.
//!
//! A name is normalised before anyone sees it ([`normalize`]): Unicode NFC; format characters
//! (general category `Cf`: zero-width spaces and joiners, the soft hyphen, every bidirectional
//! control such as the right-to-left override) removed; control characters (tabs and line
//! breaks included) refused; every other kind of space made one ASCII space, runs of them
//! one, none at the ends; at least one
//! visible character required; at most [`MAX_NAME_CHARS`] characters.
//!
//! Two names are the same name when their [`key`]s are equal: the lowercase name's UTS #39
//! confusable skeleton (`unicode-security`), so `Ann`, `ann` and `Аnn` (Cyrillic А) collide.
//! The key is only compared, never shown.
//!
//! [`PlayerName`] is a name that passed [`normalize`]: a seat's name on the wire and in the
//! server; deserializing one normalises and checks it again.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// Longest display name, in characters (after normalisation).
pub const MAX_NAME_CHARS: usize = 24;

/// Letters and symbols that render as nothing (Hangul fillers, the Braille blank), which the
/// general categories count as visible.
const BLANK_LOOKALIKES: [char; 6] = [
    '\u{115F}', // HANGUL CHOSEONG FILLER
    '\u{1160}', // HANGUL JUNGSEONG FILLER
    '\u{3164}', // HANGUL FILLER
    '\u{FFA0}', // HALFWIDTH HANGUL FILLER
    '\u{2800}', // BRAILLE PATTERN BLANK
    '\u{180E}', // MONGOLIAN VOWEL SEPARATOR (Cf in new Unicode, a space in old)
];

/// A display name as kept and shown: the output of [`normalize`]. Only [`PlayerName::new`]
/// (and deserializing, which goes through it) makes one.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(try_from = "String", into = "String")]
pub struct PlayerName(String);

impl PlayerName {
    /// The name a person typed, normalised, or why it is refused.
    pub fn new(typed: &str) -> Result<PlayerName, NameError> {
        normalize(typed).map(PlayerName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the two are the same name (see [`same`]).
    pub fn same(&self, other: &PlayerName) -> bool {
        same(&self.0, &other.0)
    }
}

/// Shown as the string it is (in logs and snapshots alike).
impl std::fmt::Debug for PlayerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::ops::Deref for PlayerName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PlayerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PlayerName {
    type Error = NameError;

    fn try_from(typed: String) -> Result<PlayerName, NameError> {
        PlayerName::new(&typed)
    }
}

impl From<PlayerName> for String {
    fn from(name: PlayerName) -> String {
        name.0
    }
}

impl PartialEq<str> for PlayerName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PlayerName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Why a name is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Nothing visible is left after normalisation.
    Empty,
    TooLong,
    Control,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameError::Empty => f.write_str("name must have at least one visible character"),
            NameError::TooLong => write!(f, "name must be at most {MAX_NAME_CHARS} characters"),
            NameError::Control => f.write_str("name must not contain control characters"),
        }
    }
}

impl std::error::Error for NameError {}

fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c.general_category_group(), GeneralCategoryGroup::Separator)
}

/// Whether `c` shows something on its own (not a space, format character, mark or filler).
fn is_visible(c: char) -> bool {
    if BLANK_LOOKALIKES.contains(&c) {
        return false;
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    )
}

/// The name as it is kept and shown, or why it is refused.
pub fn normalize(name: &str) -> Result<String, NameError> {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for c in name.nfc() {
        if c.general_category() == GeneralCategory::Format || c == '\u{180E}' {
            continue;
        }
        if c.is_control() {
            return Err(NameError::Control);
        }
        if is_space(c) {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    if !out.chars().any(is_visible) {
        return Err(NameError::Empty);
    }
    if out.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(out)
}

/// What two names are compared by: equal keys are the same name to a reader.
pub fn key(name: &str) -> String {
    // The skeleton first, so that capitals' look-alikes count (`I` and `l`); then case folded,
    // and the skeleton again for what the folding produced (`ann` and `Ann` collide).
    let nfc: String = name.nfc().collect();
    let skeleton: String = unicode_security::skeleton(&nfc).collect();
    let folded: String = skeleton.chars().flat_map(char::to_lowercase).collect();
    unicode_security::skeleton(&folded).collect()
}

/// Whether `a` and `b` read as the same name.
pub fn same(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(input: &str, expected: &str) {
        assert_eq!(normalize(input).as_deref(), Ok(expected), "{input:?}");
    }

    #[track_caller]
    fn refused(input: &str, why: NameError) {
        assert_eq!(normalize(input), Err(why), "{input:?}");
    }

    #[test]
    fn plain_names_pass_trimmed() {
        ok("Ann", "Ann");
        ok("  Ann  ", "Ann");
        ok("José", "José");
        ok("李小龙", "李小龙");
        ok("Ann 🎲", "Ann 🎲");
        ok("O'Brien-Smith", "O'Brien-Smith");
    }

    #[test]
    fn names_are_nfc() {
        // e + combining acute becomes the one precomposed é.
        ok("Jose\u{301}", "José");
        assert_eq!(normalize("Jose\u{301}").unwrap().chars().count(), 4);
    }

    #[test]
    fn format_and_bidi_controls_are_removed() {
        ok("An\u{200B}n", "Ann"); // zero-width space
        ok("An\u{00AD}n", "Ann"); // soft hyphen
        ok("\u{202E}boB evil", "boB evil"); // right-to-left override
        ok("Ann\u{2066}x\u{2069}", "Annx"); // isolates
        ok("\u{200F}Ann\u{200E}", "Ann"); // RLM, LRM
        ok("\u{FEFF}Ann", "Ann"); // byte order mark
        ok("A\u{200D}nn", "Ann"); // zero-width joiner
    }

    #[test]
    fn spaces_of_every_kind_become_one() {
        ok("Ann\u{3000}\u{00A0}  Bob", "Ann Bob");
        ok("\u{2003}Ann\u{2029}", "Ann");
    }

    #[test]
    fn a_name_must_show_something() {
        refused("", NameError::Empty);
        refused("   ", NameError::Empty);
        refused("\u{200B}\u{200B}", NameError::Empty);
        refused("\u{3164}", NameError::Empty); // Hangul filler
        refused("\u{2800}\u{2800}", NameError::Empty); // Braille blank
        refused("\u{301}", NameError::Empty); // a lone combining mark
        refused("\u{202E}", NameError::Empty);
    }

    #[test]
    fn control_characters_and_long_names_are_refused() {
        refused("Ann\u{7}", NameError::Control);
        refused("Ann\nBob", NameError::Control);
        refused("tab\tname", NameError::Control);
    }

    #[test]
    fn length_counts_after_normalisation() {
        ok(&"a".repeat(MAX_NAME_CHARS), &"a".repeat(MAX_NAME_CHARS));
        refused(&"a".repeat(MAX_NAME_CHARS + 1), NameError::TooLong);
        // Invisible padding does not count (it is gone).
        let padded = format!("{}{}", "a".repeat(MAX_NAME_CHARS), "\u{200B}".repeat(50));
        ok(&padded, &"a".repeat(MAX_NAME_CHARS));
    }

    #[test]
    fn look_alikes_are_the_same_name() {
        assert!(same("Ann", "ann"));
        assert!(same("Ann", "\u{410}nn")); // Cyrillic А
        assert!(same("Paypal", "\u{420}aypal")); // Cyrillic Р
        assert!(same("Bob", "B\u{43E}b")); // Cyrillic о
        assert!(same("l1", "I1"));
        assert!(!same("Ann", "Anne"));
        assert!(!same("Ann", "Bob"));
    }

    #[test]
    fn a_player_name_checks_itself_when_deserialized() {
        let name: PlayerName = serde_json::from_str("\"  Ana\\u200b  \"").unwrap();
        assert_eq!(name, "Ana");
        assert!(serde_json::from_str::<PlayerName>("\"\\u200b \"").is_err());
        assert!(serde_json::from_str::<PlayerName>("\"a\\tb\"").is_err());
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"Ana\"");
        assert!(!name.same(&PlayerName::new("Bob").unwrap()));
        assert!(name.same(&PlayerName::new("ANA").unwrap()));
    }
}
