//! The crate's error types: one enum per operation family.
//!
//! `Display` is one short lowercase line about this layer; when an error
//! wraps another, the inner one is the [`source`](std::error::Error::source)
//! and is not repeated. [`crate::couch::CouchError`] joins the chain for the
//! `reason` of a JSON error body.

use std::fmt;

/// A malformed index declaration (`NAME=POINTER`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecError {
    /// There is no `=` between the name and the pointer.
    MissingEquals {
        /// The declaration as given.
        declaration: String,
    },
    /// The name is empty or has a character outside `[A-Za-z0-9_.-]`
    /// (it appears in URL paths, `/<bucket>/_spatial/<name>`).
    BadName {
        /// The name as given.
        name: String,
    },
    /// The pointer is not an RFC 6901 JSON pointer.
    BadPointer(PointerError),
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::MissingEquals { declaration } => {
                write!(f, "geo index {declaration:?} is not NAME=POINTER")
            }
            SpecError::BadName { name } => write!(
                f,
                "geo index name {name:?} must be non-empty ASCII letters, digits, '_', '.' or '-'"
            ),
            SpecError::BadPointer(_) => write!(f, "geo index pointer is not a JSON pointer"),
        }
    }
}

impl std::error::Error for SpecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpecError::BadPointer(e) => Some(e),
            _ => None,
        }
    }
}

/// A string that is not an RFC 6901 JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PointerError {
    /// A non-empty pointer must start with `/`.
    NoLeadingSlash {
        /// The pointer as given.
        pointer: String,
    },
    /// `~` must be followed by `0` or `1`.
    BadEscape {
        /// The pointer as given.
        pointer: String,
        /// Byte offset of the `~`.
        offset: usize,
    },
}

impl fmt::Display for PointerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointerError::NoLeadingSlash { pointer } => {
                write!(f, "{pointer:?} does not start with '/'")
            }
            PointerError::BadEscape { pointer, offset } => {
                write!(f, "{pointer:?}: '~' at byte {offset} is not followed by '0' or '1'")
            }
        }
    }
}

impl std::error::Error for PointerError {}

/// A bounding box or a point that cannot be queried.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BoxError {
    /// A coordinate is NaN or infinite.
    NotFinite,
    /// A longitude outside [-180, 180].
    Longitude(f64),
    /// A latitude outside [-90, 90].
    Latitude(f64),
    /// An indexed box's west edge is east of its east edge (indexed boxes
    /// never wrap; only query boxes may cross the antimeridian).
    WestAboveEast {
        /// The west edge.
        west: f64,
        /// The east edge.
        east: f64,
    },
    /// The south edge is north of the north edge.
    SouthAboveNorth {
        /// The south edge.
        south: f64,
        /// The north edge.
        north: f64,
    },
}

impl fmt::Display for BoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoxError::NotFinite => write!(f, "coordinates must be finite numbers"),
            BoxError::Longitude(v) => write!(f, "longitude {v} is outside [-180, 180]"),
            BoxError::Latitude(v) => write!(f, "latitude {v} is outside [-90, 90]"),
            BoxError::WestAboveEast { west, east } => {
                write!(f, "west {west} is greater than east {east}")
            }
            BoxError::SouthAboveNorth { south, north } => {
                write!(f, "south {south} is greater than north {north}")
            }
        }
    }
}

impl std::error::Error for BoxError {}

/// A GeoCouch query string that cannot be answered. Each of these is the
/// client's mistake (HTTP 400, `query_parse_error`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueryError {
    /// A parameter is given twice.
    Duplicate {
        /// The parameter.
        param: &'static str,
    },
    /// A parameter or its value is not valid percent-encoded UTF-8.
    Encoding {
        /// The raw `name=value` pair.
        pair: String,
    },
    /// `bbox` is not four comma-separated numbers.
    BboxSyntax {
        /// The value as given.
        value: String,
    },
    /// `bbox` has four numbers that do not make a box.
    Bbox(BoxError),
    /// `q` is not two comma-separated numbers.
    PointSyntax {
        /// The value as given.
        value: String,
    },
    /// `q` is not a point on the globe.
    Point(BoxError),
    /// A parameter that takes a non-negative integer got something else.
    NotACount {
        /// The parameter.
        param: &'static str,
        /// The value as given.
        value: String,
    },
    /// A parameter that takes one of a few words got another.
    BadValue {
        /// The parameter.
        param: &'static str,
        /// The value as given.
        value: String,
        /// What it accepts, for the message.
        expected: &'static str,
    },
    /// Two parameters that cannot be combined (`bbox` with `n`, `count` with `n`).
    Conflict {
        /// The first parameter.
        first: &'static str,
        /// The second parameter.
        second: &'static str,
    },
    /// One parameter needs another (`n` needs `q` and `q` needs `n`).
    Missing {
        /// The parameter that was given.
        given: &'static str,
        /// The one it needs.
        needs: &'static str,
    },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Duplicate { param } => write!(f, "parameter {param} is given twice"),
            QueryError::Encoding { pair } => {
                write!(f, "query parameter {pair:?} is not percent-encoded UTF-8")
            }
            QueryError::BboxSyntax { value } => {
                write!(f, "bbox {value:?} is not four comma-separated numbers W,S,E,N")
            }
            QueryError::Bbox(_) => write!(f, "invalid bbox"),
            QueryError::PointSyntax { value } => {
                write!(f, "q {value:?} is not two comma-separated numbers LON,LAT")
            }
            QueryError::Point(_) => write!(f, "invalid point q"),
            QueryError::NotACount { param, value } => {
                write!(f, "{param} {value:?} is not a non-negative integer")
            }
            QueryError::BadValue { param, value, expected } => {
                write!(f, "{param} {value:?} is not one of {expected}")
            }
            QueryError::Conflict { first, second } => {
                write!(f, "{first} and {second} cannot be combined")
            }
            QueryError::Missing { given, needs } => write!(f, "{given} needs {needs}"),
        }
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueryError::Bbox(e) | QueryError::Point(e) => Some(e),
            _ => None,
        }
    }
}
