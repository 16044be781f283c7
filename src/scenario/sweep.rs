//! Sweeps: a scenario key that takes a list of values (`rate = [0, 1000,
//! "max"]`, `pid_max = [1024, 4096]`) runs once per value.

use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// One value, or the values of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum Sweep<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> Sweep<T> {
    /// The value of a concrete (non-sweep) scenario; for a sweep, its first value.
    pub fn one(&self) -> T {
        match self {
            Sweep::One(v) => v.clone(),
            Sweep::Many(v) => v[0].clone(),
        }
    }

    pub fn values(&self) -> Vec<T> {
        match self {
            Sweep::One(v) => vec![v.clone()],
            Sweep::Many(v) => v.clone(),
        }
    }

    pub fn is_sweep(&self) -> bool {
        matches!(self, Sweep::Many(_))
    }
}

impl<T: Default> Default for Sweep<T> {
    fn default() -> Self {
        Sweep::One(T::default())
    }
}

impl<T: Serialize> Serialize for Sweep<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Sweep::One(v) => v.serialize(serializer),
            Sweep::Many(v) => v.serialize(serializer),
        }
    }
}

/// Forwards a single value to `T`'s own deserializer, so its error messages
/// (and their spans) survive; a sequence becomes a sweep of at least 2 values.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sweep<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        macro_rules! forward {
            ($name:ident, $ty:ty) => {
                fn $name<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                    T::deserialize(v.into_deserializer()).map(Sweep::One)
                }
            };
        }
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Sweep<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values to sweep")
            }
            forward!(visit_i64, i64);
            forward!(visit_u64, u64);
            forward!(visit_f64, f64);
            forward!(visit_bool, bool);
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(Sweep::One)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(Sweep::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<T>()? {
                    values.push(v);
                }
                match values.len() {
                    0 => Err(de::Error::custom("a sweep needs at least two values")),
                    1 => Ok(Sweep::One(values.pop().expect("one value"))),
                    n if n > 64 => Err(de::Error::custom(format!(
                        "a sweep takes at most 64 values, got {n}"
                    ))),
                    _ => Ok(Sweep::Many(values)),
                }
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}
