//! Key → server: the hash tag, the key hash and the distribution together.
//!
//! # Ketama, as nutcracker 0.5.0 builds it
//!
//! * Each server gets `floor(w / W · 40 · n) · 4` points, `w` its weight,
//!   `W` the pool's total weight and `n` its number of servers, computed in
//!   single precision exactly as nutcracker's C expression does (so equal
//!   weights give 160 points each, and the rounding of unequal weights
//!   matches).
//! * Points come in fours: for `i` in `0..points/4`, the MD5 digest of
//!   `"{identity}-{i}"` (identity: [`Server::identity`], cut to 272 bytes
//!   like nutcracker's buffer) gives four little-endian 32-bit words.
//! * The points are sorted by value; equal values keep server order (glibc's
//!   `qsort`, a merge sort for arrays this size, is stable).
//! * A key's hash goes to the first point whose value is at least the hash,
//!   and past the last point wraps to the first.
//!
//! # Modula
//!
//! Each server owns `weight` consecutive slots; a key goes to slot
//! `hash % total_weight`.
//!
//! Two shortcuts of nutcracker's are kept: a pool of one server sends every
//! key to it, and an empty key (after the hash tag) hashes to 0.

use crate::KeyHash;
use crate::config::Distribution;
use crate::error::RingError;
use crate::server::Server;

/// ketama's points per server at equal weights.
pub const KETAMA_POINTS_PER_SERVER: u32 = 160;
/// Points one MD5 digest gives.
const POINTS_PER_HASH: u32 = 4;
/// nutcracker formats `"{identity}-{i}"` into a buffer of this size.
const KETAMA_MAX_HOSTLEN: usize = 273;

/// A point of the ketama continuum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// Its position on the 32-bit circle.
    pub value: u32,
    /// The server (index in the pool's list) that owns it.
    pub server: usize,
}

/// How keys are dealt out.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Layout {
    /// Ketama points, sorted.
    Ketama(Vec<Point>),
    /// Modula: running sums of the weights (`ends[i]` is one past server
    /// `i`'s last slot).
    Modula(Vec<u64>),
}

/// A pool's placement: which server owns each key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    hash: KeyHash,
    hash_tag: Option<[u8; 2]>,
    servers: usize,
    layout: Layout,
}

impl Ring {
    /// The placement nutcracker computes for these servers.
    ///
    /// # Errors
    ///
    /// [`RingError::NoServers`] for an empty list, [`RingError::Random`]
    /// for `distribution: random`, [`RingError::HashTag`] for a hash tag
    /// that is not two bytes.
    pub fn new(
        servers: &[Server],
        hash: KeyHash,
        hash_tag: Option<&str>,
        distribution: Distribution,
    ) -> Result<Ring, RingError> {
        if servers.is_empty() {
            return Err(RingError::NoServers);
        }
        let hash_tag = match hash_tag {
            None => None,
            Some(t) => match *t.as_bytes() {
                [open, close] => Some([open, close]),
                _ => return Err(RingError::HashTag(t.to_owned())),
            },
        };
        let layout = match distribution {
            Distribution::Ketama => Layout::Ketama(ketama_points(servers)),
            Distribution::Modula => Layout::Modula(
                servers
                    .iter()
                    .scan(0u64, |sum, s| {
                        *sum += u64::from(s.weight);
                        Some(*sum)
                    })
                    .collect(),
            ),
            Distribution::Random => return Err(RingError::Random),
        };
        Ok(Ring { hash, hash_tag, servers: servers.len(), layout })
    }

    /// The key hash.
    pub fn key_hash(&self) -> KeyHash {
        self.hash
    }

    /// The part of `key` that is hashed: with a hash tag such as `{}`, the
    /// bytes between the first `{` and the first `}` after it when there
    /// are any; otherwise the whole key.
    pub fn hashed_part<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        let Some([open, close]) = self.hash_tag else { return key };
        let Some(start) = key.iter().position(|&b| b == open) else { return key };
        let inner = &key[start + 1..];
        match inner.iter().position(|&b| b == close) {
            Some(end) if end > 0 => &inner[..end],
            _ => key,
        }
    }

    /// The hash nutcracker dispatches `key` by (after the hash tag; 0 for
    /// an empty key).
    pub fn hash_of(&self, key: &[u8]) -> u32 {
        let part = self.hashed_part(key);
        if part.is_empty() { 0 } else { self.hash.hash(part) }
    }

    /// The index (in the pool's server list) of the server that owns `key`.
    pub fn owner(&self, key: &[u8]) -> usize {
        if self.servers == 1 {
            return 0;
        }
        let hash = self.hash_of(key);
        match &self.layout {
            Layout::Ketama(points) => {
                // Never empty: the points add up to about 160 per server.
                let at = points.partition_point(|p| p.value < hash);
                points.get(at).or(points.first()).map_or(0, |p| p.server)
            }
            Layout::Modula(ends) => {
                let total = ends.last().copied().unwrap_or(1);
                let slot = u64::from(hash) % total;
                ends.partition_point(|&end| end <= slot)
            }
        }
    }

    /// The ketama continuum, sorted (`None` for modula).
    pub fn points(&self) -> Option<&[Point]> {
        match &self.layout {
            Layout::Ketama(points) => Some(points),
            Layout::Modula(_) => None,
        }
    }

    /// Each server's share of the hash values (0.0 to 1.0, summing to 1):
    /// the fraction of keys it owns when the hash spreads keys evenly over
    /// 32 bits (`crc32`, which gives 15 bits, does not).
    #[allow(clippy::cast_precision_loss, reason = "a fraction for people to read")]
    pub fn shares(&self) -> Vec<f64> {
        let mut owned = vec![0u64; self.servers];
        match &self.layout {
            Layout::Ketama(points) => {
                // A point owns the values from just above its predecessor up
                // to itself; the first also owns the wrap past the last.
                let mut previous: Option<u32> = None;
                for p in points {
                    let from = previous.map_or(0, |v| u64::from(v) + 1);
                    owned[p.server] += u64::from(p.value) + 1 - from;
                    previous = Some(p.value);
                }
                if let (Some(first), Some(last)) = (points.first(), previous) {
                    owned[first.server] += (1u64 << 32) - 1 - u64::from(last);
                }
            }
            Layout::Modula(ends) => {
                let mut start = 0;
                for (i, &end) in ends.iter().enumerate() {
                    owned[i] = end - start;
                    start = end;
                }
            }
        }
        let total: u64 = owned.iter().sum();
        owned.iter().map(|&o| o as f64 / total as f64).collect()
    }
}

/// Points per server, in single precision as nutcracker's
/// `floorf(pct * 160 / 4 * n + 0.0000000001) * 4` (the tiny constant is a
/// double, so the sum is taken in double and rounded back to float).
#[allow(clippy::cast_precision_loss, reason = "the C code's own float conversions, on purpose")]
fn points_for(weight: u32, total_weight: u32, servers: usize) -> u32 {
    let pct = weight as f32 / total_weight as f32;
    let per_hash = pct * KETAMA_POINTS_PER_SERVER as f32 / POINTS_PER_HASH as f32 * servers as f32;
    let nudged = (f64::from(per_hash) + 0.000_000_000_1) as f32;
    (nudged.floor() * POINTS_PER_HASH as f32) as u32
}

fn ketama_points(servers: &[Server]) -> Vec<Point> {
    let total_weight = servers.iter().fold(0u32, |sum, s| sum.wrapping_add(s.weight));
    let mut points = Vec::with_capacity(servers.len() * KETAMA_POINTS_PER_SERVER as usize);
    for (index, server) in servers.iter().enumerate() {
        let identity = server.identity();
        for i in 0..points_for(server.weight, total_weight, servers.len()) / POINTS_PER_HASH {
            let mut label = format!("{identity}-{i}").into_bytes();
            label.truncate(KETAMA_MAX_HOSTLEN - 1);
            let digest = crate::hash::md5_digest(&label);
            for word in digest.chunks_exact(4) {
                let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                points.push(Point { value, server: index });
            }
        }
    }
    // Stable: equal values keep server order, as glibc's merge sort does.
    points.sort_by_key(|p| p.value);
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Vec<Server> {
        (0..3).map(|i| Server::tcp("127.0.0.1", 11211 + i)).collect()
    }

    #[test]
    fn equal_weights_give_160_points_each() {
        for n in 1..=20 {
            assert_eq!(points_for(1, n, n as usize), 160, "{n} servers");
        }
        let ring = Ring::new(&three(), KeyHash::Fnv1a64, None, Distribution::Ketama).unwrap();
        let points = ring.points().unwrap();
        assert_eq!(points.len(), 480);
        assert!(points.windows(2).all(|w| w[0].value <= w[1].value));
    }

    #[test]
    fn weights_scale_points_in_single_precision() {
        // 1:2:3 of 480 points: 80, 160, 240.
        assert_eq!(points_for(1, 6, 3), 80);
        assert_eq!(points_for(2, 6, 3), 160);
        assert_eq!(points_for(3, 6, 3), 240);
        // 1:1000 leaves the light server no point at all.
        assert_eq!(points_for(1, 1001, 2), 0);
        // 1:10 of 320: 7.27 digests, floored to 7.
        assert_eq!(points_for(1, 11, 2), 28);
        assert_eq!(points_for(10, 11, 2), 288);
    }

    #[test]
    fn lookup_wraps_past_the_last_point() {
        let ring = Ring::new(&three(), KeyHash::Md5, None, Distribution::Ketama).unwrap();
        let points = ring.points().unwrap();
        let (first, last) = (points[0], points[points.len() - 1]);
        let Layout::Ketama(_) = &ring.layout else { unreachable!() };
        // Find keys whose hash lies beyond the last point, and below the first.
        let mut beyond = 0;
        for i in 0..200_000u32 {
            let key = format!("k{i}");
            let h = ring.hash_of(key.as_bytes());
            if h > last.value {
                assert_eq!(ring.owner(key.as_bytes()), first.server);
                beyond += 1;
            } else if h <= first.value {
                assert_eq!(ring.owner(key.as_bytes()), first.server);
            }
        }
        assert!(beyond > 0, "no key hashed past the last point");
    }

    #[test]
    fn hash_tags_pick_the_inner_part() {
        let ring = Ring::new(&three(), KeyHash::Fnv1a64, Some("{}"), Distribution::Ketama).unwrap();
        assert_eq!(ring.hashed_part(b"user{42}:name"), b"42");
        assert_eq!(ring.hashed_part(b"a{}b{c}"), b"a{}b{c}", "empty tag: whole key");
        assert_eq!(ring.hashed_part(b"a{b"), b"a{b");
        assert_eq!(ring.hashed_part(b"a}b{c}"), b"c");
        assert_eq!(ring.owner(b"user{42}:name"), ring.owner(b"42"));
        let same = Ring::new(&three(), KeyHash::Fnv1a64, Some("$$"), Distribution::Ketama).unwrap();
        assert_eq!(same.hashed_part(b"x$id$y"), b"id");
        assert!(matches!(
            Ring::new(&three(), KeyHash::Md5, Some("{"), Distribution::Ketama),
            Err(RingError::HashTag(_))
        ));
    }

    #[test]
    fn modula_deals_slots_by_weight() {
        let servers: Vec<Server> =
            three().into_iter().zip([1, 2, 3]).map(|(s, w)| s.with_weight(w)).collect();
        let ring = Ring::new(&servers, KeyHash::Crc32a, None, Distribution::Modula).unwrap();
        for i in 0..1000u32 {
            let key = format!("m{i}");
            let slot = KeyHash::Crc32a.hash(key.as_bytes()) % 6;
            let expected = match slot {
                0 => 0,
                1 | 2 => 1,
                _ => 2,
            };
            assert_eq!(ring.owner(key.as_bytes()), expected);
        }
        let shares = ring.shares();
        assert!((shares[2] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn shares_sum_to_one() {
        let ring = Ring::new(&three(), KeyHash::Fnv1a64, None, Distribution::Ketama).unwrap();
        let shares = ring.shares();
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(shares.iter().all(|&s| s > 0.2 && s < 0.5), "{shares:?}");
    }

    #[test]
    fn one_server_and_random_pools() {
        let one = [Server::tcp("h", 1)];
        let ring = Ring::new(&one, KeyHash::Md5, None, Distribution::Ketama).unwrap();
        assert_eq!(ring.owner(b"anything"), 0);
        assert_eq!(
            Ring::new(&one, KeyHash::Md5, None, Distribution::Random),
            Err(RingError::Random)
        );
        assert_eq!(
            Ring::new(&[], KeyHash::Md5, None, Distribution::Ketama),
            Err(RingError::NoServers)
        );
    }
}
