//! A face for each person: initials on a colour derived from the `user_id`, which the room
//! derives from the person's secret. Two people who chose the same name have different ids, so
//! they get different colours (one of [`HUES`]) and different tags.

/// How many colours faces are drawn from: hues this far apart (in degrees) stay tellable apart.
pub const HUES: u32 = 24;

/// What a person's avatar shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Face {
    /// One or two letters: the first of the name's first word and of its last word. Shown in
    /// capitals by the style sheet (uppercasing here would ship Unicode's case tables).
    pub initials: String,
    /// The colour's hue in degrees, from the `user_id` alone.
    pub hue: u32,
    /// The start of the `user_id`, to tell two people of the same name apart on hover.
    pub tag: String,
}

impl Face {
    pub fn of(user_id: &str, name: &str) -> Self {
        let mut words = name.split_whitespace();
        let first = words.next().and_then(|w| w.chars().next());
        let last = words.last().and_then(|w| w.chars().next());
        let initials = first.into_iter().chain(last).collect();
        // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
        let hash = user_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        Self {
            initials,
            hue: hash % HUES * (360 / HUES),
            tag: user_id.chars().take(6).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_come_from_the_first_and_last_words() {
        assert_eq!(Face::of("u1", "dana").initials, "d");
        assert_eq!(Face::of("u1", "Dana  Scully").initials, "DS");
        assert_eq!(Face::of("u1", "Ada King Lovelace").initials, "AL");
        assert_eq!(Face::of("u1", "Émile zola").initials, "Éz");
        assert_eq!(Face::of("u1", "🙂 smiley").initials, "🙂s");
    }

    #[test]
    fn the_colour_follows_the_id_not_the_name() {
        let a = Face::of("kq3Xv9LmTt0aPz", "Dana");
        let b = Face::of("Wm8sQe2rYh5uNc", "Dana");
        assert_ne!(a.hue, b.hue, "two Danas look different");
        assert_ne!(a.tag, b.tag);
        assert_eq!(Face::of("kq3Xv9LmTt0aPz", "Someone else").hue, a.hue);
        assert_eq!(a.tag, "kq3Xv9");
        // Every hue is one of the palette's.
        for n in 0..500 {
            let hue = Face::of(&format!("user-{n}"), "x").hue;
            assert!(hue < 360 && hue.is_multiple_of(360 / HUES), "{hue}");
        }
    }
}
